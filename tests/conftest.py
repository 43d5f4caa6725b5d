"""Shared pytest bits: `report` lines printed in the terminal summary, and the tools some tests need (node's MathJax)."""
import os, re, shutil, subprocess
from pathlib import Path
import pytest

_LINES = []
MJ = Path(__file__).resolve().parent/'mathjax'

@pytest.fixture(scope='session')
def report():
    "Call report('text') to print a line in pytest's summary at the end of the run."
    return _LINES.append

def pytest_terminal_summary(terminalreporter):
    if _LINES:
        terminalreporter.section('ddpm_book checks')
        for line in _LINES: terminalreporter.write_line(line)

def missing(msg: str):
    "Skip a test whose tool is missing, with `msg` saying how to get it; under CI (env CI set) fail instead."
    if os.environ.get('CI'): pytest.fail(msg + ' (CI is set, so this is a failure, not a skip)', pytrace=False)
    pytest.skip(msg)

def mathjax_modules() -> dict:
    "node and npm's mathjax-full 3.2.2 (pinned in tests/mathjax), installed on first use: {'node', 'es5'}."
    node, npm = shutil.which('node'), shutil.which('npm')
    if node is None or npm is None:
        missing('The MathJax checks need node (>= 18) and npm, which are not on PATH: install Node.js '
                '(e.g. `apt-get install nodejs npm`) to check that the book\'s formulas render.')
    ver = subprocess.run([node, '--version'], capture_output=True, text=True).stdout.strip()
    if not re.match(r'v(1[89]|[2-9]\d)\.', ver):
        missing(f'The MathJax checks need node >= 18, found {ver!r}: install a newer Node.js.')
    if not (MJ/'node_modules'/'mathjax-full'/'package.json').exists():
        verb = 'ci' if (MJ/'package-lock.json').exists() else 'install'   # `npm ci` installs the locked versions
        r = subprocess.run([npm, verb, '--no-audit', '--no-fund', '--prefix', str(MJ)],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.fail(f'`npm {verb} --prefix {MJ}` failed (is the npm registry reachable?):\n{r.stdout}\n{r.stderr}',
                        pytrace=False)
    return {'node': node, 'es5': MJ/'node_modules'/'mathjax-full'/'es5'}
