"""What a published nbdev project ships: the LICENSE settings.ini names, a CHANGELOG, the standard GitHub workflows,
and an sdist and a wheel (`python -m build`) that `twine check` accepts.

The workflows cannot run here (no GitHub): the test checks that their YAML parses and that they use the standard
nbdev actions. The build is offline (`--no-isolation`: the installed setuptools, nothing downloaded) and shared with
tests/test_wheel.py, which installs the same wheel into a fresh venv.
"""
import hashlib, re, shlex, shutil, subprocess, sys, tarfile, zipfile
from pathlib import Path

import pytest
from test_wheel import built_dists, run, settings

ROOT = Path(__file__).resolve().parents[1]
# sha256 of the Apache License 2.0's terms as apache.org publishes them (LICENSE-2.0.txt, from its first line to
# "END OF TERMS AND CONDITIONS"): the appendix after it is where a project puts its own copyright line
APACHE2_TERMS_SHA256 = '59899c6091b540582ed617e8eeaac4919dc985ccfc35459ee9752b699be5205b'
LICENSES = {'apache2': ('Apache-2.0', APACHE2_TERMS_SHA256)}
WORKFLOWS = {'test.yaml': 'fastai/workflows/nbdev-ci@master', 'deploy.yaml': 'fastai/workflows/quarto-ghp@master'}


def license_terms(text: str) -> str:
    "The license's terms: from the start to END OF TERMS AND CONDITIONS, lines right-stripped."
    end = text.index('END OF TERMS AND CONDITIONS') + len('END OF TERMS AND CONDITIONS')
    return '\n'.join(l.rstrip() for l in text[:end].strip('\n').split('\n'))


def test_license_is_the_one_settings_names():
    lic = settings()['license'].lower()
    assert lic in LICENSES, f'settings.ini names license {lic!r}; this test knows {sorted(LICENSES)}'
    f = ROOT/'LICENSE'
    assert f.is_file(), f'settings.ini names {LICENSES[lic][0]} but there is no LICENSE file'
    text = f.read_text(encoding='utf-8')
    got = hashlib.sha256(license_terms(text).encode()).hexdigest()
    assert got == LICENSES[lic][1], 'LICENSE is not the standard Apache License 2.0 text (its terms differ)'
    author = settings()['author']
    assert re.search(rf'^\s*Copyright \d{{4}}.* {re.escape(author)}\s*$', text, re.M), \
        f'the LICENSE appendix does not name the copyright holder settings.ini gives ({author!r})'
    assert '[name of copyright owner]' not in text


def test_license_check_fails_on_other_text():
    text = (ROOT/'LICENSE').read_text(encoding='utf-8')
    changed = text.replace('irrevocable', 'revocable', 1)
    assert changed != text
    assert hashlib.sha256(license_terms(changed).encode()).hexdigest() != APACHE2_TERMS_SHA256


def _git(*args) -> str:
    if shutil.which('git') is None or not (ROOT/'.git').exists(): pytest.skip('not a git clone')
    return subprocess.run(['git', '-C', str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def test_changelog():
    f = ROOT/'CHANGELOG.md'
    assert f.is_file(), 'no CHANGELOG.md: nbdev projects keep one (summarise `git log --oneline` by issue)'
    text = f.read_text(encoding='utf-8')
    version = settings()['version']
    assert re.search(rf'^## .*\b{re.escape(version)}\b', text, re.M), f'CHANGELOG.md has no section for {version}'
    # every issue the history names, up to the commit that last edited the changelog, has its entry
    last = _git('log', '-1', '--format=%H', '--', 'CHANGELOG.md').strip() or 'HEAD'
    named = {int(n) for n in re.findall(r'\bissues? (\d+)', _git('log', '--format=%B', last), re.I)}
    listed = {int(n) for n in re.findall(r'\bissues? (\d+)', text, re.I)}
    listed |= {int(n) for m in re.findall(r'\bissues ([\d, and]+)', text, re.I) for n in re.findall(r'\d+', m)}
    assert named <= listed, f'CHANGELOG.md has no entry for issue(s) {sorted(named - listed)} that git log names'


def test_workflows_are_the_standard_nbdev_ones():
    yaml = pytest.importorskip('yaml')
    wf = ROOT/'.github'/'workflows'
    for name, action in WORKFLOWS.items():
        assert (wf/name).is_file(), f'.github/workflows/{name} is missing (the standard nbdev workflow using {action})'
        doc = yaml.safe_load((wf/name).read_text())
        on = doc.get('on', doc.get(True))          # YAML 1.1 reads the key `on` as True
        assert on, f'{name}: no `on:` trigger'
        events = on if isinstance(on, (list, str)) else list(on)
        assert 'push' in events, f'{name} does not run on push: {on}'
        uses = [s.get('uses') for job in doc['jobs'].values() for s in job['steps']]
        assert action in uses, f'{name} does not use {action}: {uses}'


def test_dev_extras_build_and_check():
    dev = {re.match(r'[A-Za-z0-9._-]+', r).group(0).lower() for r in shlex.split(settings()['dev_requirements'])}
    assert {'build', 'twine'} <= dev, 'add build and twine to dev_requirements in settings.ini (CI installs .[dev])'


def test_sdist_and_wheel_pass_twine_check(report):
    for mod in ('build', 'twine'):
        try: __import__(mod)
        except ImportError: pytest.fail(f'{mod} is not installed: pip install -e ".[dev]"', pytrace=False)
    sdist, whl = built_dists()
    r = run([sys.executable, '-m', 'twine', 'check', '--strict', sdist, whl], 120)
    assert r.stdout.count('PASSED') == 2, r.stdout
    version = settings()['version']
    assert sdist.name == f'ddpm_book-{version}.tar.gz', sdist.name
    with tarfile.open(sdist) as t: names = {n.split('/', 1)[1] for n in t.getnames() if '/' in n}
    need = {'setup.py', 'settings.ini', 'README.md', 'LICENSE', 'CHANGELOG.md', 'ddpm_book/__init__.py'}
    assert need <= names, f'the sdist lacks {sorted(need - names)} (MANIFEST.in)'
    with zipfile.ZipFile(whl) as z:
        meta = next(z.read(n).decode() for n in z.namelist() if n.endswith('.dist-info/METADATA'))
        lic_files = [n for n in z.namelist() if '.dist-info/' in n and n.endswith('/LICENSE')]
    assert lic_files, 'the wheel carries no LICENSE'
    assert re.search(r'^License(-Expression)?: Apache-2\.0$', meta, re.M), 'the wheel does not declare Apache-2.0'
    report(f'package: {sdist.name} and {whl.name} pass twine check --strict')
