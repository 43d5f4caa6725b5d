"""`pip install ddpm_book` works: build the wheel, install it into a fresh virtual environment, import it there.

The wheel is built as a release is (`python -m build`: an sdist, then the wheel from the sdist; offline: no
build isolation) from a copy of the files a clone has (git's tracked and not-ignored files), so stale build/ or
egg-info folders of the working tree can't leak into it. tests/test_package.py checks the same two files with
`twine check` (built_dists() builds them once per pytest run). The fresh venv sees the running interpreter's packages (torch, numpy, ...) through
`--system-site-packages` plus a .pth file naming this interpreter's site-packages (so it also works when
pytest itself runs in a venv), so nothing large is downloaded; ddpm_book itself comes only from the wheel.
In the venv, with the working directory outside the repository, the test imports ddpm_book and checks:
its version is settings.ini's, it lives in the venv's site-packages, the public API imports, every
module and symbol of ddpm_book/_modidx.py resolves, the requirements the wheel declares are installed,
and the `ddpm_book` console script is declared (and, once ddpm_book.cli exists, answers --help).
Takes about 10-30 s.
"""
import atexit, configparser, functools, json, os, shlex, shutil, subprocess, sys, sysconfig, tempfile, time, zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 60       # the test should take well under this (about 10-30 s); each step also has a hard timeout
HARD_LIMIT_S = 180  # fail beyond this: something (a download?) went wrong

def settings():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']

def run(cmd, timeout, **kw):
    "Run cmd; fail with its output if it fails."
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f'`{" ".join(map(str, cmd))}` failed (rc={r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'
    return r

def clone_files(dest: Path):
    "Copy the files a clone would have (tracked + untracked-but-not-ignored) to dest."
    git = shutil.which('git')
    assert git, 'test_wheel needs git to list the repository files'
    r = run([git, '-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], 60)
    files = [f for f in r.stdout.split('\0') if f]
    assert 'setup.py' in files and 'settings.ini' in files, files[:20]
    for f in files:
        src = ROOT/f
        if not src.is_file(): continue   # deleted in the working tree but still tracked
        (dest/f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest/f)

@functools.cache
def built_dists() -> tuple:
    """(sdist, wheel) that `python -m build --no-isolation` makes from a clean copy of the repository, built once.

    No build isolation: build would otherwise make a venv and download setuptools; this uses the installed one."""
    tmp = Path(tempfile.mkdtemp(prefix='ddpm_book_dist_'))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    src, dist = tmp/'src', tmp/'dist'
    src.mkdir()
    clone_files(src)
    env = {**os.environ, 'PIP_NO_INDEX': '1'}
    run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', dist, src], 300, cwd=tmp, env=env)
    sdists, wheels = list(dist.glob('ddpm_book-*.tar.gz')), list(dist.glob('ddpm_book-*.whl'))
    assert len(sdists) == 1 and len(wheels) == 1, f'expected one sdist and one wheel in {dist}: {list(dist.iterdir())}'
    return sdists[0], wheels[0]

# Runs inside the fresh venv, in a directory outside the repository.
PROBE = r'''
import importlib, importlib.metadata as md, json, re, sys
import ddpm_book
from ddpm_book.schedule import Schedule, q_sample
from ddpm_book.utils import get_device
from ddpm_book._modidx import d
mods, missing = sorted(d['syms']), []
for m in mods:
    mod = importlib.import_module(m)
    for sym in d['syms'][m]:
        obj = mod
        try:
            for part in sym[len(m)+1:].split('.'): obj = getattr(obj, part)
        except AttributeError: missing.append(sym)
reqs = {}
for r in md.requires('ddpm_book') or []:
    if 'extra ==' in r: continue
    name = re.match(r'[A-Za-z0-9._-]+', r).group(0)
    try: reqs[r] = md.version(name)
    except md.PackageNotFoundError: reqs[r] = None
dist = md.distribution('ddpm_book')
print(json.dumps(dict(version=ddpm_book.__version__, dist_version=dist.version, file=ddpm_book.__file__,
    dist_path=str(dist.locate_file('ddpm_book/__init__.py')), modules=mods, missing=missing, requires=reqs,
    sys_path=sys.path, schedule_T=Schedule(T=10).T, device=str(get_device(None)))))
'''

def test_wheel_installs_and_imports(tmp_path, report):
    t0 = time.perf_counter()
    venv, work = tmp_path/'venv', tmp_path/'elsewhere'
    work.mkdir()
    version = settings()['version']

    # 1. build the sdist and, from it, the wheel, from a clean copy of the repository
    whl = built_dists()[1]
    assert whl.name.startswith(f'ddpm_book-{version}-'), f'{whl.name} does not carry settings.ini version {version}'

    # 2. what the wheel holds: the package (no notebooks or tests) and its entry points
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        ep = next((z.read(n).decode() for n in names if n.endswith('.dist-info/entry_points.txt')), '')
    assert 'ddpm_book/__init__.py' in names and 'ddpm_book/_modidx.py' in names, names
    stray = [n for n in names if n.split('/')[0] in ('nbs', 'tests', '.ci') or n.endswith('.ipynb')]
    assert not stray, f'the wheel ships files that are not the package: {stray}'
    want = settings()['console_scripts'].split()
    assert want, 'settings.ini declares no console_scripts'
    sect = ep.split('[console_scripts]')[1].split('\n[')[0] if '[console_scripts]' in ep else ''
    declared = [l.replace(' ', '') for l in sect.splitlines() if l.strip()]
    for spec in want:
        assert spec.replace(' ', '') in declared, f'console script {spec!r} is not in the wheel\'s entry_points.txt:\n{ep}'
    assert any(s.startswith('ddpm_book=') for s in declared), f'no `ddpm_book` console script in entry_points.txt:\n{ep}'

    # 3. a fresh venv that sees this interpreter's packages (torch etc.) but gets ddpm_book only from the wheel
    run([sys.executable, '-m', 'venv', '--system-site-packages', venv], 120)
    vpy = venv/('Scripts/python.exe' if os.name == 'nt' else 'bin/python')
    vsite = Path(run([vpy, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], 60).stdout.strip())
    here = {sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}
    (vsite/'_ddpm_book_test_parent_site.pth').write_text('\n'.join(sorted(here)) + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP')}
    env.update(VIRTUAL_ENV=str(venv), PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1',
               PATH=str(vpy.parent) + os.pathsep + env.get('PATH', ''))
    r = run([vpy, '-m', 'pip', 'install', '--no-deps', '--force-reinstall', '--no-index', whl], 120, cwd=work, env=env)

    # 4. import it there, from outside the repository
    r = run([vpy, '-c', PROBE], 120, cwd=work, env=env)
    info = json.loads(r.stdout.strip().splitlines()[-1])
    report(f'wheel {whl.name} installed in a fresh venv; imported ddpm_book {info["version"]} with modules {info["modules"]}')
    assert info['version'] == version, f'ddpm_book.__version__ is {info["version"]}, settings.ini says {version}'
    assert info['dist_version'] == version, info
    f = Path(info['file']).resolve()
    assert f.is_relative_to(vsite.resolve()), f'ddpm_book was imported from {f}, not from the venv ({vsite})'
    assert not f.is_relative_to(ROOT), f'ddpm_book was imported from the source tree: {f}'
    assert Path(info['dist_path']).resolve() == f, info
    assert {'ddpm_book.schedule', 'ddpm_book.utils'} <= set(info['modules']), info['modules']
    assert not info['missing'], f'symbols listed in _modidx.py are missing from the installed package: {info["missing"]}'
    assert info['schedule_T'] == 10

    # the requirements the wheel declares are installed (by name) and satisfy their version specifiers
    from packaging.requirements import Requirement
    bad = []
    for req, have in info['requires'].items():
        spec = Requirement(req).specifier
        if have is None or not spec.contains(have, prereleases=True): bad.append(f'{req} (installed: {have})')
    assert not bad, f'requirements of the wheel not satisfied in the venv: {bad}'
    norm = lambda rs: {(Requirement(r).name.lower().replace('_', '-'), str(Requirement(r).specifier)) for r in rs}
    assert norm(info['requires']) == norm(shlex.split(settings()['requirements'])), \
        f'the wheel declares {sorted(info["requires"])}, settings.ini requirements say {settings()["requirements"]}'

    # 5. the console script: installed by pip; once ddpm_book.cli exists it must answer --help
    script = venv/('Scripts/ddpm_book.exe' if os.name == 'nt' else 'bin/ddpm_book')
    assert script.exists(), f'pip did not install the console script {script}'
    if 'ddpm_book/cli.py' in names:
        h = run([script, '--help'], 120, cwd=work, env=env)
        assert 'usage' in (h.stdout + h.stderr).lower(), h.stdout
    else:
        report('wheel: ddpm_book/cli.py is not in the wheel yet, so `ddpm_book --help` was not run '
               '(only the console script declaration was checked)')

    elapsed = time.perf_counter() - t0
    report(f'wheel: build + venv + install + import took {elapsed:.1f} s'
           + (f' (WARNING: over its {BUDGET_S} s budget)' if elapsed > BUDGET_S else ''))
    assert elapsed < HARD_LIMIT_S, f'building and installing the wheel took {elapsed:.0f} s (budget {BUDGET_S} s)'
