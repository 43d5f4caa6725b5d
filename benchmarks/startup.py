"""How long the command line takes to start, and which ddpm_book modules it imports on the way.

Each command runs in a fresh Python process (`--reps` times, median reported): `ddpm_book --help` (the console
script; `python -m ddpm_book.cli --help` where it is not installed) and `python -c "import ddpm_book.cli"`. A further
process runs `main(['--help'])` and lists the ddpm_book modules in `sys.modules` afterwards, and whether matplotlib
was imported: `--help` should not import Part IV (clip, vae, stable_diffusion) nor the experiments. With `--baseline DIR`
(a folder holding another version's `ddpm_book/`, e.g. `git archive <commit> ddpm_book | tar -x -C DIR`) both versions
run in turns, so that a busy machine slows both alike.

    python benchmarks/startup.py              # 5 runs of each, about 30 s
    python benchmarks/startup.py --baseline /tmp/base --reps 5
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


# what `ddpm_book sample` imports before it loads a checkpoint: the command line, then its sample command (a version
# without `cli.command` imports every command with the command line)
SAMPLE_IMPORTS = "import ddpm_book.cli as c\nif hasattr(c, 'command'): c.command('sample')"
PROBE_SAMPLE = (SAMPLE_IMPORTS + "\nimport sys, json\n"
                "mods = sorted(m.split('.', 1)[1] for m in sys.modules if m.startswith('ddpm_book.'))\n"
                "print(json.dumps(dict(modules=mods, matplotlib='matplotlib' in sys.modules)))")


def env(root:Path=ROOT) -> dict:
    "The environment of the child processes: the checkout `root` first on the path."
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(root), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)}


def commands() -> dict[str, list[str]]:
    "The timed commands by name."
    script = shutil.which('ddpm_book')
    cli = [script, '--help'] if script else [sys.executable, '-m', 'ddpm_book.cli', '--help']
    return {'ddpm_book --help': cli, 'python -c "import ddpm_book.cli"': [sys.executable, '-c', 'import ddpm_book.cli'],
            'imports of `ddpm_book sample`': [sys.executable, '-c', SAMPLE_IMPORTS]}


def time_once(argv:list[str], root:Path) -> float:
    "Wall seconds of one fresh run of argv with the checkout `root`."
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env(root), cwd=root, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.strip()}")
    return time.perf_counter() - t0


def time_all(roots:dict[str, Path], reps:int) -> dict:
    "{version: {command: [seconds]}}: every command of every version, `reps` rounds, the versions in turns."
    times = {v: {c: [] for c in commands()} for v in roots}
    for r in range(reps):
        order = list(roots) if r % 2 == 0 else list(roots)[::-1]
        for c, argv in commands().items():
            for v in order: times[v][c].append(time_once(argv, roots[v]))
    return times


def imported(root:Path=ROOT, probe:str=PROBE) -> dict:
    "The ddpm_book modules (and whether matplotlib) that `main(['--help'])` (or `probe`) imports in a fresh process."
    r = subprocess.run([sys.executable, '-c', probe], env=env(root), cwd=root, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"the import probe failed: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reps', type=int, default=5, help='fresh processes per command')
    p.add_argument('--baseline', type=Path, default=None, help="a folder with another version's ddpm_book/, timed in turns")
    p.add_argument('--no-save', action='store_true', help='print only; do not write benchmarks/results/')
    a = p.parse_args()
    info = machine(threads=1)
    roots = {'this checkout': ROOT, **({f'baseline ({a.baseline})': a.baseline.resolve()} if a.baseline else {})}
    times = time_all(roots, a.reps)
    med = {v: {c: statistics.median(ts) for c, ts in cs.items()} for v, cs in times.items()}
    mods = {v: imported(root) for v, root in roots.items()}
    mods_sample = {v: imported(root, PROBE_SAMPLE) for v, root in roots.items()}
    lines = ['## Start-up of the command line', '', header(info), '',
             '| version | ' + ' | '.join(f'`{c}` (s)' for c in commands()) + ' |', '|---' * (1 + len(commands())) + '|']
    lines += [f'| {v} | ' + ' | '.join(f'{t:.2f}' for t in med[v].values()) + ' |' for v in roots]
    lines += ['', f'median of {a.reps} fresh processes each, the versions in turns.']
    for v, m in mods.items():
        part4 = [x for x in m['modules'] if x in PART_IV]
        lines += ['', f"{v}: `ddpm_book --help` imports {len(m['modules'])} ddpm_book modules: {', '.join(m['modules'])}; "
                      f"Part IV among them: {', '.join(part4) or 'none'}; experiments: {'experiments' in m['modules']}; "
                      f"matplotlib: {m['matplotlib']}"]
    for v, m in mods_sample.items():
        lines += ['', f"{v}: `ddpm_book sample` imports {len(m['modules'])} ddpm_book modules before it loads the "
                      f"checkpoint; trainer among them: {'trainer' in m['modules']}; Part IV: "
                      f"{', '.join(x for x in m['modules'] if x in PART_IV) or 'none'}"]
    payload = dict(machine=info, reps=a.reps, roots={v: str(r) for v, r in roots.items()}, median_seconds=med,
                   seconds=times, imports=mods, imports_sample=mods_sample)
    report('startup', payload, lines, save=not a.no_save)


if __name__ == '__main__': main()
