"""How long the command line takes to start, and which ddpm_book modules it imports on the way.

Each command runs in a fresh Python process (`--reps` times, median reported): `ddpm_book --help` (the console
script; `python -m ddpm_book.cli --help` where it is not installed) and `python -c "import ddpm_book.cli"`. A further
process runs `main(['--help'])` and lists the ddpm_book modules in `sys.modules` afterwards, and whether matplotlib
was imported: `--help` should not import Part IV (clip, vae, stable_diffusion) nor the experiments.

    python benchmarks/startup.py              # 5 runs of each, about 30 s
    python benchmarks/startup.py --reps 3 --no-save
"""
from __future__ import annotations
import argparse, json, os, shutil, statistics, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import machine, header, report

PART_IV = ('clip', 'vae', 'stable_diffusion')
PROBE = ("import sys, json, contextlib, io\n"
         "from ddpm_book.cli import main\n"
         "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
         "mods = sorted(m.split('.', 1)[1] for m in sys.modules if m.startswith('ddpm_book.'))\n"
         "print(json.dumps(dict(modules=mods, matplotlib='matplotlib' in sys.modules)))")


def env() -> dict:
    "The environment of the child processes: this checkout first on the path."
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)}


def commands() -> dict[str, list[str]]:
    "The timed commands by name."
    script = shutil.which('ddpm_book')
    cli = [script, '--help'] if script else [sys.executable, '-m', 'ddpm_book.cli', '--help']
    return {'ddpm_book --help': cli, 'python -c "import ddpm_book.cli"': [sys.executable, '-c', 'import ddpm_book.cli']}


def time_command(argv:list[str], reps:int) -> list[float]:
    "Wall seconds of `reps` fresh runs of argv."
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = subprocess.run(argv, env=env(), cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode: raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.strip()}")
    return times


def imported() -> dict:
    "The ddpm_book modules (and whether matplotlib) that `main(['--help'])` imports in a fresh process."
    r = subprocess.run([sys.executable, '-c', PROBE], env=env(), cwd=ROOT, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"the import probe failed: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reps', type=int, default=5, help='fresh processes per command')
    p.add_argument('--no-save', action='store_true', help='print only; do not write benchmarks/results/')
    a = p.parse_args()
    info = machine(threads=1)
    times = {name: time_command(argv, a.reps) for name, argv in commands().items()}
    rows = {name: statistics.median(ts) for name, ts in times.items()}
    mods = imported()
    lines = ['## Start-up of the command line', '', header(info), '',
             f'| command | median of {a.reps} (s) |', '|---|---|']
    lines += [f'| `{name}` | {t:.2f} |' for name, t in rows.items()]
    part4 = [m for m in mods['modules'] if m in PART_IV]
    lines += ['', f"modules imported by `ddpm_book --help`: {', '.join(mods['modules'])}",
              f"Part IV among them: {', '.join(part4) or 'none'}; experiments: {'experiments' in mods['modules']}; "
              f"matplotlib: {mods['matplotlib']}"]
    report('startup', dict(machine=info, reps=a.reps, median_seconds=rows, seconds=times, **mods), lines, save=not a.no_save)


if __name__ == '__main__': main()
