"""ddpm_book against diffusers at identical networks: a train step, a no-grad forward and DDIM-50 sampling, timed in turns in one process.

Run from the repository root (diffusers installed: `pip install -e ".[bench]"`):

    python benchmarks/peers.py --quick          # 2-4 minutes
    python benchmarks/peers.py --threads 2 --reps 9

Each ddpm_book network (the CIFAR-10 preset, the `digits` recipe's network) is mapped to a diffusers `UNet2DModel`
of the same blocks, its group counts set to ddpm_book's, and ddpm_book's weights copied in; `match_architecture`
checks that parameters and forward FLOPs (torch.utils.flop_counter) are equal and that the two networks compute
the same function once diffusers' time embedding is replaced by ddpm_book's. The timed diffusers model keeps
its own time embedding (sin/cos halves instead of interleaved codes: same cost, no parameters, no FLOPs counted).
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))          # the repository's ddpm_book, run from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, sgemm_gflops, conv_gflops, interleave, report, header, quantiles, load_average
from ddpm_book.unet import make_model, num_params, UNet
from ddpm_book.blocks import ConvBlock, Downsample, Upsample, sinusoidal_embedding
from ddpm_book.attention import Attention
from ddpm_book.schedule import Schedule
from ddpm_book.training import train_step
from ddpm_book.tasks import build_model
from ddpm_book.denoiser import Denoiser
from ddpm_book.ddim import ddim_sample

MODELS = ('cifar10', 'digits')


def book_model(name:str) -> UNet:
    "The ddpm_book network: the CIFAR-10 preset, or the network the `digits` recipe trains (RECIPES['digits'])."
    if name == 'cifar10': return make_model('cifar10')
    if name == 'digits':
        from ddpm_book.experiments import RECIPES
        return build_model(RECIPES['digits'], (1, 8, 8))
    raise ValueError(f"unknown model {name!r}: choose one of {MODELS}")


def diffusers_config(book:UNet) -> dict:
    "The UNet2DModel arguments of the same network as the ddpm_book UNet `book` (unconditional, plain attention blocks)."
    c = book.config()
    if c['num_classes'] or c['context_dim'] or c['transformer_depth']:
        raise ValueError("only unconditional U-Nets with plain attention blocks have a diffusers UNet2DModel twin")
    sizes = [c['image_size'] // 2 ** l for l in range(len(c['ch_mult']))]
    attn = [s in c['attn_res'] for s in sizes]
    chans = [c['ch'] * m for m in c['ch_mult']]
    heads_dim = {chans[l] // c['num_heads'] for l in range(len(chans)) if attn[l]} | {chans[-1] // c['num_heads']}
    if len(heads_dim) != 1: raise ValueError(f"diffusers takes one attention_head_dim; this network's would be {sorted(heads_dim)}")
    return dict(sample_size=c['image_size'], in_channels=c['in_ch'], out_channels=c['out_ch'] or c['in_ch'],
                block_out_channels=tuple(chans), layers_per_block=c['num_res_blocks'], dropout=c['dropout'],
                down_block_types=tuple('AttnDownBlock2D' if a else 'DownBlock2D' for a in attn),
                up_block_types=tuple('AttnUpBlock2D' if a else 'UpBlock2D' for a in reversed(attn)),
                attention_head_dim=heads_dim.pop(), norm_num_groups=c['norm_groups'], norm_eps=1e-5,
                time_embedding_type='positional', flip_sin_to_cos=True, freq_shift=0, act_fn='silu')


def module_pairs(book:UNet, peer) -> list[tuple[nn.Module, nn.Module]]:
    "The leaf layers of the two networks side by side (Linear, Conv2d, GroupNorm; a qkv Linear against diffusers' (to_q, to_k, to_v))."
    pairs = [(book.time_mlp[0], peer.time_embedding.linear_1), (book.time_mlp[2], peer.time_embedding.linear_2), (book.conv_in, peer.conv_in)]
    def conv_block(b:ConvBlock, r):
        pairs.extend([(b.norm1, r.norm1), (b.conv1, r.conv1), (b.emb_proj, r.time_emb_proj), (b.norm2, r.norm2), (b.conv2, r.conv2)])
        if isinstance(b.skip, nn.Conv2d) or r.conv_shortcut is not None: pairs.append((b.skip, r.conv_shortcut))
    def attention(a:Attention, d):
        pairs.extend([(a.norm, d.group_norm), (a.qkv, (d.to_q, d.to_k, d.to_v)), (a.out, d.to_out[0])])
    def stage(st, blk, i):                          # st: a ddpm_book Stage; blk.resnets[i], blk.attentions[i]
        mods = list(st)
        conv_block(mods.pop(0), blk.resnets[i])
        if mods and isinstance(mods[0], Attention): attention(mods.pop(0), blk.attentions[i])
        return mods                                  # what is left: a Downsample or Upsample
    down, up = iter(book.down), iter(book.up)
    for blk in peer.down_blocks:
        for i in range(len(blk.resnets)):
            if stage(next(down), blk, i): raise AssertionError("unexpected module in a down stage")
        if blk.downsamplers is not None:
            (ds,) = next(down); assert isinstance(ds, Downsample); pairs.append((ds.conv, blk.downsamplers[0].conv))
    mid = list(book.mid)
    conv_block(mid[0], peer.mid_block.resnets[0]); attention(mid[1], peer.mid_block.attentions[0]); conv_block(mid[2], peer.mid_block.resnets[1])
    for blk in peer.up_blocks:
        for i in range(len(blk.resnets)):
            rest = stage(next(up), blk, i)
            if rest:
                (us,) = rest; assert isinstance(us, Upsample) and i == len(blk.resnets) - 1; pairs.append((us.conv, blk.upsamplers[0].conv))
    pairs.extend([(book.out[0], peer.conv_norm_out), (book.out[2], peer.conv_out)])
    for it in (down, up):
        if next(it, None) is not None: raise AssertionError("the networks have different numbers of stages")
    return pairs


@torch.no_grad()
def copy_weights(book:UNet, peer) -> None:
    "Give the diffusers twin ddpm_book's weights and group counts (so that both compute the same function up to the time embedding)."
    for b, p in module_pairs(book, peer):
        if isinstance(p, tuple):                   # the qkv projection: rows [q; k; v]
            for w, part in zip(b.weight.chunk(3, 0), p): part.weight.copy_(w)
            for w, part in zip(b.bias.chunk(3, 0), p): part.bias.copy_(w)
            continue
        if type(b) is not type(p) or b.weight.shape != p.weight.shape: raise AssertionError(f"{b} does not match {p}")
        if isinstance(b, nn.GroupNorm): p.num_groups = b.num_groups
        p.weight.copy_(b.weight); p.bias.copy_(b.bias)
    if num_params(book) != num_params(peer): raise AssertionError("the twin has parameters that ddpm_book's network lacks")


class BookTimeEmbedding(nn.Module):
    "ddpm_book's sinusoidal code of time t = diffusers' timestep + 1, to put in place of diffusers' time_proj for equality checks."
    def __init__(self, dim:int): super().__init__(); self.dim = dim
    def forward(self, timesteps): return sinusoidal_embedding(timesteps + 1, self.dim)


def make_pair(name:str, seed:int=0) -> tuple[UNet, nn.Module]:
    "ddpm_book's network and its diffusers twin with the same weights (zero-initialised layers given small random weights, so that every block matters)."
    from diffusers import UNet2DModel
    torch.manual_seed(seed)
    book = book_model(name)
    with torch.no_grad():
        for p in book.parameters():
            if not p.any(): p.normal_(0, 0.02)
    peer = UNet2DModel(**diffusers_config(book))
    copy_weights(book, peer)
    return book, peer


def peer_call(peer, x, t):
    "diffusers' prediction at ddpm_book's time t (diffusers counts timesteps from 0)."
    return peer(x, t - 1).sample


def flops(f) -> int:
    "The FLOPs of f() that torch.utils.flop_counter counts (matrix products, convolutions, attention; forward and backward)."
    with FlopCounterMode(display=False) as fc: f()
    return fc.get_total_flops()


def flops_by_layer(model:nn.Module, f) -> dict:
    "FLOPs of f() per top-level child of `model` (to say which block differs when totals do)."
    with FlopCounterMode(display=False) as fc: f()
    name = type(model).__name__
    return {k.split('.', 1)[1] if '.' in k else k: sum(v.values()) for k, v in fc.get_flop_counts().items() if k.count('.') == 1 and k.startswith(name)}


def match_architecture(name:str, batch:int=2, check_outputs:bool=True) -> dict:
    "Parameters and forward FLOPs of ddpm_book's network and its diffusers twin (asserted equal); the largest output difference when both use ddpm_book's time embedding."
    book, peer = make_pair(name)
    c = book.config()
    x = torch.randn(batch, c['in_ch'], c['image_size'], c['image_size'], generator=torch.Generator().manual_seed(1))
    t = torch.randint(1, 1001, (batch,), generator=torch.Generator().manual_seed(2))
    book.eval(); peer.eval()
    with torch.no_grad():
        fb, fp = flops(lambda: book(x, t)), flops(lambda: peer_call(peer, x, t))
    res = dict(model=name, params_book=num_params(book), params_diffusers=num_params(peer), batch=batch,
               fwd_flops_book=fb, fwd_flops_diffusers=fp, diffusers_config=diffusers_config(book))
    if fb != fp:
        res['flops_by_block'] = dict(book=flops_by_layer(book, lambda: book(x, t)), diffusers=flops_by_layer(peer, lambda: peer_call(peer, x, t)))
    if check_outputs:
        own = peer.time_proj
        peer.time_proj = BookTimeEmbedding(c['ch'])
        try:
            with torch.no_grad(): res['max_abs_output_diff'] = (book(x, t) - peer_call(peer, x, t)).abs().max().item()
        finally: peer.time_proj = own
    return res


# ---- the workloads -------------------------------------------------------------------------------------------------

def book_train(model, sched, x0, opt):
    "ddpm_book's train step: the library's train_step (Algorithm 1 with L_simple, then the AdamW step)."
    return lambda: train_step(model, sched, x0, opt)


def peer_train(peer, noise_sched, x0, opt):
    "diffusers' usual train step: add_noise, the U-Net, MSE against ε, backward, AdamW."
    T = noise_sched.config.num_train_timesteps
    def step():
        noise = torch.randn_like(x0)
        t = torch.randint(0, T, (x0.shape[0],))
        out = peer(noise_sched.add_noise(x0, noise, t), t).sample
        loss = F.mse_loss(out.float(), noise)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        return loss
    return step


def peer_ddim(peer, sched_cls_kw, x_T, steps, denoise=None):
    "diffusers' DDIM loop: DDIMScheduler with ddpm_book's settings (trailing spacing, ᾱ_0 = 1, no clipping)."
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(**sched_cls_kw)
    denoise = denoise or (lambda x, t: peer(x, t).sample)
    @torch.no_grad()
    def run():
        sch.set_timesteps(steps)
        x = x_T
        for t in sch.timesteps: x = sch.step(denoise(x, t), t, x).prev_sample
        return x
    return run


DDIM_KW = dict(num_train_timesteps=1000, beta_schedule='linear', beta_start=1e-4, beta_end=0.02, clip_sample=False,
               set_alpha_to_one=True, timestep_spacing='trailing', prediction_type='epsilon')


def run_model(name:str, reps:int, quick:bool, log) -> list[dict]:
    "Every workload of one network; one row per workload."
    from diffusers import DDPMScheduler
    book, peer = make_pair(name)
    c = book.config(); shape = (c['in_ch'], c['image_size'], c['image_size'])
    sched = Schedule(T=1000, name='linear')
    noise_sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear', beta_start=1e-4, beta_end=0.02)
    g = torch.Generator().manual_seed(0)
    rows = []
    train_b, fwd_b = (8, 8) if name == 'cifar10' else (128, 128)
    def add(workload, batch, res, flop):
        r = dict(model=name, workload=workload, batch=batch, flops=flop, **{k: res[k] for k in ('a', 'b', 'ratio')})
        if flop: r['gflops_book'], r['gflops_diffusers'] = flop / r['a']['median'] / 1e9, flop / r['b']['median'] / 1e9
        rows.append(r)
        log(f"  {name:8s} {workload:28s} book {r['a']['median']:.4f}s  diffusers {r['b']['median']:.4f}s  ratio {r['ratio']['median']:.3f} "
            f"[{r['ratio']['q1']:.3f}, {r['ratio']['q3']:.3f}]" + (f"  {r['gflops_book']:.1f} / {r['gflops_diffusers']:.1f} GFLOP/s" if flop else ''))

    # train step: forward + backward + AdamW
    x0 = torch.randn(train_b, *shape, generator=g)
    book.train(); peer.train()
    ob, op = torch.optim.AdamW(book.parameters(), lr=1e-5), torch.optim.AdamW(peer.parameters(), lr=1e-5)
    fa, fb = book_train(book, sched, x0, ob), peer_train(peer, noise_sched, x0, op)
    fl_b, fl_p = flops(fa), flops(fb)
    if fl_b != fl_p: log(f"  note: train-step FLOPs differ: book {fl_b:,} diffusers {fl_p:,}")
    inner = 1 if name == 'cifar10' else (2 if quick else 4)
    add('train step (fwd+bwd+AdamW)', train_b, interleave(fa, fb, reps, inner), fl_b)

    # no-grad forward (the twin given ddpm_book's weights again: the train steps moved both apart)
    copy_weights(book, peer); book.eval(); peer.eval()
    x = torch.randn(fwd_b, *shape, generator=g); t = torch.randint(1, 1001, (fwd_b,), generator=g)
    def fwd_book():
        with torch.no_grad(): return book(x, t)
    def fwd_peer():
        with torch.no_grad(): return peer(x, t - 1).sample
    fl = flops(fwd_book)
    add('forward, no grad', fwd_b, interleave(fwd_book, fwd_peer, reps, 1 if name == 'cifar10' else (4 if quick else 8)), fl)
    if name == 'cifar10' and not quick:          # a large batch, where per-call overhead is nothing
        x = torch.randn(64, *shape, generator=g); t = torch.randint(1, 1001, (64,), generator=g)
        add('forward, no grad', 64, interleave(fwd_book, fwd_peer, max(3, reps // 2), 1), fl * 8)

    if name == 'digits':              # end to end: 100 digits, DDIM-50, the same weights
        n, steps = 100, 50
        x_T = torch.randn(n, *shape, generator=g)
        den = Denoiser(book)
        sb = lambda: ddim_sample(den, sched, None, steps=steps, x_T=x_T, show_progress=False)
        sp = peer_ddim(peer, DDIM_KW, x_T, steps)
        fl = flops(lambda: book(x_T, torch.full((n,), 500))) * steps
        add(f'{n} samples, DDIM-{steps}', n, interleave(sb, sp, max(3, reps // 2)), fl)
        # the samplers alone: a null denoiser (ε̂ = 0), so only the sampler's own arithmetic and Python are timed
        zero = lambda x, t: torch.zeros_like(x)
        add(f'DDIM-{steps} sampler alone (null ε̂)', n,
            interleave(lambda: ddim_sample(zero, sched, None, steps=steps, x_T=x_T, show_progress=False),
                       peer_ddim(None, DDIM_KW, x_T, steps, denoise=zero), reps, 4), 0)
        # the same samples? (diffusers given ddpm_book's time embedding, so the two networks are one function)
        own = peer.time_proj; peer.time_proj = BookTimeEmbedding(c['ch'])
        try:
            a, b = sb(), sp()
            rows[-2]['max_abs_sample_diff_same_time_code'] = (a - b).abs().max().item()
            rows[-2]['max_abs_sample'] = a.abs().max().item()
        finally: peer.time_proj = own
    return rows


def fmt_s(q): return f"{q['median']:.4g}"


def table(rows:list[dict], peak:dict) -> str:
    out = ['| network | workload | batch | ddpm_book s | diffusers s | ratio book/diffusers, median | IQR | min–max | GFLOP per call | GFLOP/s book | GFLOP/s diffusers | % of sgemm peak (book) |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        q = r['ratio']; gf = r['flops'] / 1e9 if r['flops'] else None
        out.append(f"| {r['model']} | {r['workload']} | {r['batch']} | {fmt_s(r['a'])} | {fmt_s(r['b'])} | **{q['median']:.3f}** | "
                   f"{q['q1']:.3f}–{q['q3']:.3f} | {q['min']:.3f}–{q['max']:.3f} | " +
                   (f"{gf:.2f} | {r['gflops_book']:.1f} | {r['gflops_diffusers']:.1f} | {100 * r['gflops_book'] / peak['median']:.0f}% |" if gf else "– | – | – | – |"))
    return '\n'.join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', type=int, default=None, help="torch threads (default: torch's choice, %(default)s = one per core)")
    p.add_argument('--reps', type=int, default=None, help='timed runs of each side per workload (default 9; 3 with --quick)')
    p.add_argument('--quick', action='store_true', help='fewer repetitions: a 2-4 minute run')
    p.add_argument('--models', nargs='+', default=list(MODELS), choices=MODELS, help='which networks (default: both)')
    p.add_argument('--no-save', action='store_true', help='print only; write nothing under benchmarks/results/')
    a = p.parse_args(argv)
    try: import diffusers
    except ImportError: sys.exit("diffusers is not installed: pip install -e '.[bench]' (or pip install diffusers); see benchmarks/README.md")
    if a.threads: torch.set_num_threads(a.threads)
    reps = a.reps or (3 if a.quick else 9)
    info = machine(torch.get_num_threads()); info['diffusers'] = diffusers.__version__; info['reps'] = reps
    t_start = time.time()
    log = lambda s: print(s, flush=True)
    log(f"ddpm_book vs diffusers {diffusers.__version__}; torch {torch.__version__}; {info['cpu']}; {info['threads']} threads; {reps} reps; load {info['load_average']}")
    arch = [match_architecture(m) for m in a.models]
    for r in arch:
        log(f"  {r['model']}: params {r['params_book']:,} vs {r['params_diffusers']:,}; forward FLOPs at batch {r['batch']} "
            f"{r['fwd_flops_book']:,} vs {r['fwd_flops_diffusers']:,}; max |output difference| {r['max_abs_output_diff']:.2e}")
        assert r['params_book'] == r['params_diffusers'] and r['fwd_flops_book'] == r['fwd_flops_diffusers'], r.get('flops_by_block')
    peak0, conv0 = sgemm_gflops(), conv_gflops()
    log(f"  fp32 sgemm 2048² at {info['threads']} threads: median {peak0['median']:.1f} GFLOP/s (max {peak0['max']:.1f}); "
        f"3×3 conv {conv0['shape']}: {conv0['median']:.1f} GFLOP/s")
    rows = []
    for m in a.models: rows += run_model(m, reps, a.quick, log)
    peak1, conv1 = sgemm_gflops(), conv_gflops()
    peak = dict(n=2048, median=(peak0['median'] + peak1['median']) / 2, max=max(peak0['max'], peak1['max']), before=peak0, after=peak1,
                conv_before=conv0, conv_after=conv1)
    info['load_average_end'] = load_average(); info['wall_s'] = round(time.time() - t_start, 1)
    md = ['## ddpm_book vs diffusers, same networks, same weights', '',
          header(info, f", diffusers {info['diffusers']}") + f", at end {info['load_average_end']}",
          f"- {reps} interleaved repetitions per workload (A B B A ...), ratio = ddpm_book time / diffusers time of neighbouring runs; wall time {info['wall_s']} s",
          f"- fp32 sgemm ({peak['n']}² torch.mm, MKL) at the same thread count: {peak0['median']:.1f} GFLOP/s before, {peak1['median']:.1f} after (best {peak['max']:.1f}); "
          f"a 3×3 convolution ({conv0['shape']}, oneDNN) reaches {conv0['median']:.1f} before, {conv1['median']:.1f} after: the %-of-sgemm column can exceed 100%",
          '- networks: ' + '; '.join(f"{r['model']}: {r['params_book']:,} parameters both, {r['fwd_flops_book'] / r['batch'] / 1e9:.3f} GFLOP forward per image both, "
                                     f"max |output difference| {r['max_abs_output_diff']:.1e} with ddpm_book's time code" for r in arch),
          '', table(rows, peak)]
    samp = [r for r in rows if 'max_abs_sample_diff_same_time_code' in r]
    if samp: md += ['', f"DDIM-50 samples of the two pipelines with the same (random, untrained) weights and ddpm_book's time code in both: "
                        f"max |difference| {samp[0]['max_abs_sample_diff_same_time_code']:.1e} for samples up to {samp[0]['max_abs_sample']:.3g} in size "
                        "(float32 rounding: diffusers builds its schedule in float32, ddpm_book in float64)."]
    report('peers', dict(machine=info, sgemm=peak, architectures=arch, rows=rows), md, save=not a.no_save)


if __name__ == '__main__': main()
