"""How the digits train step (the main job's: Trainer.train_batch with clipping and EMA) holds up when the machine is shared.

For threads 1 and 2 (or --threads ...), with and without another CPU-busy process pinned to one core, and with
OMP_WAIT_POLICY unset or PASSIVE (set in each worker's environment, since OpenMP reads it when torch loads), a fresh
worker process times `--steps` train steps after a warm-up. The configurations run in turns, `--reps` rounds, each
round in a rotated order; the busy process is started before and killed after each worker that asks for it.

    python benchmarks/threads.py --quick        # about 2 minutes
    python benchmarks/threads.py --reps 4 --steps 30
"""
from __future__ import annotations
import argparse, itertools, json, os, statistics, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUSY = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


def worker(threads:int, steps:int, warmup:int, batch:int, budget:float) -> dict:
    "In this process: torch with `threads` threads (as the CLI's --threads sets them), the digits recipe's Trainer, per-step times."
    import torch
    sys.path.insert(0, str(ROOT))
    from ddpm_book.experiments import RECIPES
    from ddpm_book.trainer import Trainer
    torch.set_num_threads(threads)
    tr = Trainer(RECIPES['digits'].replace(batch_size=batch), device='cpu')
    for _ in range(warmup): tr.train_batch()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter(); tr.train_batch(); times.append(time.perf_counter() - t0)
        if sum(times) > budget and len(times) >= 3: break        # a collapsed configuration: enough steps to see it
    return dict(threads=torch.get_num_threads(), times=times, wait_policy=os.environ.get('OMP_WAIT_POLICY'))


def run_config(threads:int, busy:bool, policy:str|None, steps:int, warmup:int, batch:int, budget:float) -> dict:
    "One worker process of the configuration; a busy-loop process on the last core while it runs, if `busy`."
    env = {k: v for k, v in os.environ.items() if k != 'OMP_WAIT_POLICY'}
    if policy: env['OMP_WAIT_POLICY'] = policy
    hog = subprocess.Popen([sys.executable, '-c', BUSY, str(max(os.sched_getaffinity(0)))]) if busy else None
    try:
        if hog: time.sleep(0.2)                                   # let it start spinning
        r = subprocess.run([sys.executable, __file__, '--worker', '--threads', str(threads), '--steps', str(steps),
                            '--warmup', str(warmup), '--batch', str(batch), '--budget', str(budget)], env=env, capture_output=True, text=True, timeout=900)
    finally:
        if hog: hog.kill(); hog.wait()
    if r.returncode: raise RuntimeError(f"worker failed (threads={threads}, busy={busy}, OMP_WAIT_POLICY={policy}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2], help='thread counts to compare (default: 1 2)')
    p.add_argument('--reps', type=int, default=None, help='rounds over all configurations (default 3; 2 with --quick)')
    p.add_argument('--steps', type=int, default=None, help='timed steps per worker (default 15; 8 with --quick)')
    p.add_argument('--warmup', type=int, default=None, help='untimed steps first (default 3; 2 with --quick)')
    p.add_argument('--budget', type=float, default=None, help='stop timing a worker after this many seconds, 3 steps at least (default 20; 10 with --quick)')
    p.add_argument('--batch', type=int, default=128, help="batch size (the digits recipe's: 128)")
    p.add_argument('--quick', action='store_true', help='fewer rounds and steps: about 2 minutes')
    p.add_argument('--no-save', action='store_true')
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.threads[0], a.steps, a.warmup, a.batch, a.budget))); return
    sys.path.insert(0, str(HERE))
    from _common import machine, quantiles, report, header, load_average
    reps, steps = a.reps or (2 if a.quick else 3), a.steps or (8 if a.quick else 15)
    warmup, budget = a.warmup or (2 if a.quick else 3), a.budget or (10. if a.quick else 20.)
    configs = list(itertools.product(a.threads, (False, True), (None, 'PASSIVE')))
    info = machine(a.threads); info.update(reps=reps, steps=steps, batch=a.batch, cores=len(os.sched_getaffinity(0)))
    t_start = time.time()
    print(f"digits train step, {len(configs)} configurations x {reps} rounds x {steps} steps; load {info['load_average']}", flush=True)
    times = {c: [] for c in configs}; run_medians = {c: [] for c in configs}
    for r in range(reps):
        k = r * len(configs) // reps                             # each round starts elsewhere in the list
        for c in configs[k:] + configs[:k]:
            res = run_config(*c, steps, warmup, a.batch, budget)
            times[c] += res['times']; run_medians[c].append(statistics.median(res['times']))
            print(f"  round {r + 1}: threads {c[0]}, busy core {'yes' if c[1] else 'no '}, OMP_WAIT_POLICY {c[2] or 'unset':7s}: "
                  f"median {statistics.median(res['times']):.4f} s/step", flush=True)
    rows = []
    default = (info['cores'] if info['cores'] in a.threads else max(a.threads), False, None)    # torch's default: a thread per core
    for c in configs:
        q = quantiles(times[c]); base = statistics.median(times[(c[0], False, c[2])])
        rows.append(dict(threads=c[0], busy=c[1], wait_policy=c[2], step=q, run_medians=run_medians[c], slowdown=q['median'] / base,
                         vs_default=q['median'] / statistics.median(times[default])))
    info['load_average_end'] = load_average(); info['wall_s'] = round(time.time() - t_start, 1)
    md = ['## The digits train step on a shared machine', '',
          header(dict(info, threads='/'.join(map(str, a.threads)))) + f", at end {info['load_average_end']}",
          f"- Trainer.train_batch of the digits recipe (batch {a.batch}, AdamW, clipping, EMA); each cell: {reps} worker processes "
          f"x {steps} steps (fewer once {budget:.0f} s are spent) after {warmup} warm-up steps, configurations in turns; 'busy core': a Python busy loop pinned to core "
          f"{max(os.sched_getaffinity(0))} while the worker runs. Other users' jobs also ran on this machine: compare within the table. Wall time {info['wall_s']} s.",
          '', f'| threads | busy core | OMP_WAIT_POLICY | median s/step | IQR | min–max | per-run medians | vs same threads and policy, no busy core | vs {default[0]} threads, policy unset, no busy core |',
          '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        q = r['step']
        md.append(f"| {r['threads']} | {'yes' if r['busy'] else 'no'} | {r['wait_policy'] or 'unset'} | **{q['median']:.4f}** | {q['q1']:.4f}–{q['q3']:.4f} | "
                  f"{q['min']:.4f}–{q['max']:.4f} | {', '.join(f'{m:.3f}' for m in r['run_medians'])} | {r['slowdown']:.2f}× | {r['vs_default']:.2f}× |")
    report('threads', dict(machine=info, rows=rows), md, save=not a.no_save)


if __name__ == '__main__': main()
