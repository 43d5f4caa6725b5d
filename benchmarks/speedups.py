"""Where the digits train step's time goes, and what some changes would buy (ddpm_book only; nothing in the library is changed).

The step is the main job's: Trainer.train_batch of the `digits` recipe (forward, backward, gradient clipping, AdamW, EMA).
Measured, each against the unchanged step in turns (A B B A ...) in one process, from the same seed and batches:
  - per-step overhead: the step at batch 2, 8, 32 and 128, and its parts (forward, backward, clip, AdamW, EMA) at 2 and 128;
  - AdamW(foreach=True) instead of the default (on CPU torch picks the per-parameter loop), and the EMA as one
    torch._foreach_lerp_ instead of a loop: speed, and whether the weights after the timed steps are bit-for-bit the same;
  - channels_last weights and inputs;
  - torch.compile of the network (inductor): compile time and the steady-state speed-up (skip with --no-compile).

    python benchmarks/speedups.py --quick --no-compile     # about 2 minutes
    python benchmarks/speedups.py                          # with torch.compile: about 6-10 minutes
"""
from __future__ import annotations
import argparse, statistics, sys, time, types
from pathlib import Path
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
from _common import machine, interleave, quantiles, report, header, load_average, timed
from ddpm_book.experiments import RECIPES
from ddpm_book.trainer import Trainer


def trainer(batch:int=128, **kw) -> Trainer:
    "A fresh Trainer of the digits recipe (seed 0: same weights and same batches every time)."
    return Trainer(RECIPES['digits'].replace(batch_size=batch, **kw), device='cpu')


def max_weight_diff(a:Trainer, b:Trainer) -> tuple[float, float]:
    "The largest |difference| of the weights and of the EMA weights of two trainers."
    d = lambda m1, m2: max((p - q).abs().max().item() for p, q in zip(m1.parameters(), m2.parameters()))
    return d(a.model, b.model), d(a.ema.model, b.ema.model)


def parts(tr:Trainer, n:int) -> dict:
    "Seconds per step of each part of Trainer.train_batch (the same calls, timed one by one), medians of n steps."
    cfg, out = tr.cfg, {k: [] for k in ('forward (batch, t, ε, x_t, network, loss)', 'backward', 'clip', 'AdamW step', 'EMA update')}
    names = list(out)
    for _ in range(n):
        ts = [time.perf_counter()]
        for g in tr.opt.param_groups: g['lr'] = tr.lr_at(tr.step)
        tr.model.train(); loss = tr.task.loss(tr); ts.append(time.perf_counter())
        tr.opt.zero_grad(set_to_none=True); loss.backward(); ts.append(time.perf_counter())
        nn.utils.clip_grad_norm_(tr.model.parameters(), cfg.grad_clip); ts.append(time.perf_counter())
        tr.opt.step(); ts.append(time.perf_counter())
        tr.ema.update(tr.model); ts.append(time.perf_counter())
        tr.step += 1
        for k, a, b in zip(names, ts, ts[1:]): out[k].append(b - a)
    return {k: statistics.median(v) for k, v in out.items()}


def foreach_ema_update(self, model:nn.Module):
    "EMA.update with one torch._foreach_lerp_ over all parameters (the library loops over them with lerp_)."
    b = self.beta()
    with torch.no_grad():
        torch._foreach_lerp_(list(self.model.parameters()), [p.detach() for p in model.parameters()], 1 - b)
        for e, p in zip(self.model.buffers(), model.buffers()): e.copy_(p)
    self.updates += 1


def compare(log, name:str, make_b, reps:int, inner:int, warmup:int=2) -> dict:
    "The unchanged step (A) against a changed one (B), in turns, from the same seed; then how far their weights drifted apart."
    a, b = trainer(), make_b()
    res = interleave(a.train_batch, b.train_batch, reps, inner, warmup)
    w, e = max_weight_diff(a, b)
    r = dict(change=name, steps_each=a.step, base=res['a'], changed=res['b'], ratio=res['ratio'],
             speedup=1 / res['ratio']['median'], max_weight_diff=w, max_ema_diff=e)
    log(f"  {name:40s} base {res['a']['median']:.4f}s  changed {res['b']['median']:.4f}s  speed-up {r['speedup']:.3f}× "
        f"(ratio IQR {res['ratio']['q1']:.3f}–{res['ratio']['q3']:.3f}); after {a.step} steps max |Δw| {w:.2e}, |Δ EMA| {e:.2e}")
    return r


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument('--reps', type=int, default=None, help='timed runs of each side (default 14 of 2 steps; 8 of 1 step with --quick)')
    p.add_argument('--quick', action='store_true', help='fewer repetitions (about 2 minutes without torch.compile)')
    p.add_argument('--no-compile', action='store_true', help='skip torch.compile (its compile takes minutes on 2 cores)')
    p.add_argument('--no-save', action='store_true')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    reps = a.reps or (8 if a.quick else 14); inner = 1 if a.quick else 2      # short turns: neighbours see the same load
    info = machine(torch.get_num_threads()); info['reps'] = reps; t_start = time.time()
    log = lambda s: print(s, flush=True)
    log(f"digits train step (Trainer.train_batch), {info['threads']} threads, {reps} reps of {inner} steps; load {info['load_average']}")

    # 1. the per-step overhead: the step at several batch sizes, in turns
    batches = (2, 8, 32, 128)
    trs = {B: trainer(B) for B in batches}
    for B in batches: trs[B].train_batch(); trs[B].train_batch()
    per = {B: [] for B in batches}
    for r in range(reps):
        for B in (batches if r % 2 == 0 else batches[::-1]): per[B].append(timed(trs[B].train_batch, inner))
    per = {B: quantiles(v) for B, v in per.items()}
    slope = (per[128]['median'] - per[2]['median']) / 126
    overhead = dict(by_batch=per, per_sample_s=slope, fixed_s=per[2]['median'] - 2 * slope,
                    parts={B: parts(trainer(B), max(10, reps * inner)) for B in (2, 128)})
    for B in batches: log(f"  batch {B:3d}: {per[B]['median']:.4f} s/step (IQR {per[B]['q1']:.4f}–{per[B]['q3']:.4f})")
    for B, d in overhead['parts'].items(): log(f"  parts at batch {B}: " + ', '.join(f"{k.split(' (')[0]} {v * 1e3:.1f} ms" for k, v in d.items()))

    # 2. changes, each against the unchanged step
    changes = []
    def adamw_foreach():
        tr = trainer(); tr.opt = torch.optim.AdamW(tr.model.parameters(), lr=tr.cfg.lr, weight_decay=tr.cfg.weight_decay, foreach=True); return tr
    changes.append(compare(log, 'AdamW(foreach=True)', adamw_foreach, reps, inner))
    def ema_foreach():
        tr = trainer(); tr.ema.update = types.MethodType(foreach_ema_update, tr.ema); return tr
    changes.append(compare(log, 'EMA update as one _foreach_lerp_', ema_foreach, reps, inner))
    def both():
        tr = adamw_foreach(); tr.ema.update = types.MethodType(foreach_ema_update, tr.ema); return tr
    changes.append(compare(log, 'both', both, reps, inner))
    def channels_last():
        tr = trainer(); cl = torch.channels_last
        tr.model.to(memory_format=cl); tr.ema.model.to(memory_format=cl); tr.task.X = tr.task.X.contiguous(memory_format=cl); return tr
    changes.append(compare(log, 'channels_last (weights and data)', channels_last, reps, inner))

    # 3. torch.compile: the first steps (compiling forward and backward), then the steady state
    comp = None
    if not a.no_compile:
        tr = trainer()
        tr.model = torch.compile(tr.model)
        t0 = time.perf_counter(); tr.train_batch(); first = time.perf_counter() - t0
        t0 = time.perf_counter(); tr.train_batch(); second = time.perf_counter() - t0
        base = trainer(); base.train_batch(); base.train_batch()
        res = interleave(base.train_batch, tr.train_batch, reps, inner, 1)
        w, e = max_weight_diff(base, tr)
        comp = dict(first_step_s=first, second_step_s=second, base=res['a'], compiled=res['b'], ratio=res['ratio'],
                    speedup=1 / res['ratio']['median'], max_weight_diff=w, max_ema_diff=e)
        saved = res['a']['median'] * (1 - res['ratio']['median'])      # per step, from the ratio of neighbouring runs
        comp['break_even_steps'] = first / saved if saved > 0 else None
        log(f"  torch.compile: first step {first:.1f} s, second {second:.2f} s; steady {res['b']['median']:.4f} vs {res['a']['median']:.4f} s/step, "
            f"speed-up {comp['speedup']:.3f}×; pays back after {comp['break_even_steps'] or float('inf'):.0f} steps; max |Δw| {w:.2e}")

    info['load_average_end'] = load_average(); info['wall_s'] = round(time.time() - t_start, 1)
    md = ['## The digits train step: overhead and candidate speed-ups (ddpm_book only)', '',
          header(info) + f", at end {info['load_average_end']}",
          f"- Trainer.train_batch of the digits recipe (293,041 parameters; batch 128 unless stated); {reps} interleaved runs of {inner} steps each; wall time {info['wall_s']} s",
          '', '| batch | s/step (median) | IQR | per image |', '|---|---|---|---|']
    for B, q in per.items(): md.append(f"| {B} | {q['median']:.4f} | {q['q1']:.4f}–{q['q3']:.4f} | {q['median'] / B * 1e3:.2f} ms |")
    md += ['', f"Linear fit through batch 2 and 128: {overhead['fixed_s'] * 1e3:.1f} ms per step fixed + {slope * 1e3:.3f} ms per image; "
               f"at batch 128 the fixed part is {overhead['fixed_s'] / per[128]['median']:.0%} of the step.", '',
           '| part of the step | batch 2, ms | batch 128, ms |', '|---|---|---|']
    for k in overhead['parts'][2]: md.append(f"| {k} | {overhead['parts'][2][k] * 1e3:.2f} | {overhead['parts'][128][k] * 1e3:.2f} |")
    md += ['', '| change (against the unchanged step, same seed) | unchanged s/step | changed s/step | speed-up (median) | ratio IQR | max |Δ weights| after the timed steps | max |Δ EMA| |',
           '|---|---|---|---|---|---|---|']
    for c in changes:
        md.append(f"| {c['change']} | {c['base']['median']:.4f} | {c['changed']['median']:.4f} | **{c['speedup']:.3f}×** | "
                  f"{c['ratio']['q1']:.3f}–{c['ratio']['q3']:.3f} | {c['max_weight_diff']:.1e} | {c['max_ema_diff']:.1e} |")
    if comp:
        md.append(f"| torch.compile(model), inductor | {comp['base']['median']:.4f} | {comp['compiled']['median']:.4f} | **{comp['speedup']:.3f}×** | "
                  f"{comp['ratio']['q1']:.3f}–{comp['ratio']['q3']:.3f} | {comp['max_weight_diff']:.1e} | {comp['max_ema_diff']:.1e} |")
        be = comp['break_even_steps']
        md += ['', f"torch.compile: the first step took {comp['first_step_s']:.1f} s (compiling), the second {comp['second_step_s']:.2f} s; "
                   + (f"the compile pays back after about {be:.0f} steps (the digits recipe trains {RECIPES['digits'].steps})." if be else "no steady-state gain, so it never pays back.")]
    report('speedups', dict(machine=info, overhead=overhead, changes=changes, compile=comp), md, save=not a.no_save)


if __name__ == '__main__': main()
