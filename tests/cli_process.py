"""The command line in a fresh process, as a user meets it, for the fault tests (issue 18): start it, run it, and check
that it failed with the library's one-line error."""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_env(**extra) -> dict:
    "This process's environment with the checkout first on PYTHONPATH (and `extra` variables)."
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get('PYTHONPATH', '')] if p)
    return {**os.environ, 'PYTHONPATH': path, **extra}


def cli_start(*args, env: dict | None = None, **kw) -> subprocess.Popen:
    "`python -m ddpm_book.cli args...`, started with its stdout and stderr piped."
    return subprocess.Popen([sys.executable, '-m', 'ddpm_book.cli', *map(str, args)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or cli_env(), **kw)


def cli_run(*args, timeout: float = 600, **kw) -> tuple[int, str]:
    "Run the command line to its end: (exit code, stderr)."
    p = cli_start(*args, **kw)
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def one_line_error(code: int, err: str, *fragments: str):
    "Assert the library's refusal: exit code 2, one line `ddpm_book: error: ... (fix: ...)`, every fragment in it."
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith('ddpm_book: error:'), err
    assert 'Traceback' not in err and '(fix:' in err and all(f in err for f in fragments), err
