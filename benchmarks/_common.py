"""Helpers shared by the benchmark scripts: the machine's description, the fp32 sgemm peak, interleaved timing and summaries."""
from __future__ import annotations
import datetime, json, os, platform, statistics, time
from pathlib import Path
import torch

RESULTS = Path(__file__).parent / 'results'


def cpu_model() -> str:
    "The CPU's model name from /proc/cpuinfo (platform.processor() where there is none)."
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or 'unknown'


def load_average() -> str:
    "The 1-, 5- and 15-minute load averages (how busy the machine was), or '' where there are none."
    try: return ' '.join(f'{v:.2f}' for v in os.getloadavg())
    except (OSError, AttributeError): return ''


def machine(threads:int) -> dict:
    "What a result needs to be read later: date, versions, CPU, threads, cores and the load."
    return dict(date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), torch=torch.__version__,
                python=platform.python_version(), cpu=cpu_model(), logical_cpus=os.cpu_count(), threads=threads,
                load_average=load_average())


def sgemm_gflops(n:int=2048, reps:int=5) -> dict:
    "The fp32 matrix product C = A·B of n×n matrices at torch's current thread count: GFLOP/s of each of `reps` products after a warm-up."
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter(); torch.mm(a, b); dt = time.perf_counter() - t0
        rates.append(2 * n ** 3 / dt / 1e9)
    return dict(n=n, median=statistics.median(rates), max=max(rates), min=min(rates))


def conv_gflops(ch:int=256, size:int=32, batch:int=16, reps:int=5) -> dict:
    "A 3×3 convolution ch→ch on batch×ch×size×size (no grad), the U-Nets' main kernel, in GFLOP/s: oneDNN's conv kernels may beat MKL's sgemm."
    conv, x = torch.nn.Conv2d(ch, ch, 3, padding=1), torch.randn(batch, ch, size, size)
    fl = 2 * batch * size * size * ch * ch * 9
    with torch.no_grad():
        conv(x); rates = []
        for _ in range(reps):
            t0 = time.perf_counter(); conv(x); rates.append(fl / (time.perf_counter() - t0) / 1e9)
    return dict(shape=f'{batch}x{ch}x{size}x{size}', median=statistics.median(rates), max=max(rates), min=min(rates))


def timed(f, inner:int=1) -> float:
    "Seconds per call of f(), the mean of `inner` calls in a row."
    t0 = time.perf_counter()
    for _ in range(inner): f()
    return (time.perf_counter() - t0) / inner


def quantiles(xs:list[float]) -> dict:
    "Median, quartiles, min and max of a list of numbers."
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4, method='inclusive') if len(xs) > 1 else [xs[0]] * 3
    return dict(median=statistics.median(xs), q1=q[0], q3=q[2], min=xs[0], max=xs[-1], n=len(xs))


def interleave(a, b, reps:int, inner:int=1, warmup:int=1) -> dict:
    "Time the callables a and b in turns, A B B A A B ..., `reps` times each; the ratio a/b of each pair of neighbouring runs."
    for _ in range(warmup): a(); b()
    ta, tb = [], []
    for r in range(reps):
        if r % 2 == 0: ta.append(timed(a, inner)); tb.append(timed(b, inner))
        else: tb.append(timed(b, inner)); ta.append(timed(a, inner))
    return dict(a=quantiles(ta), b=quantiles(tb), ratio=quantiles([x / y for x, y in zip(ta, tb)]), a_times=ta, b_times=tb)


def write_results(stem:str, payload:dict, markdown:str) -> tuple[Path, Path]:
    "Write results/<stem>-<date>.json and .md; returns their paths."
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%MZ')
    j, m = RESULTS / f'{stem}-{tag}.json', RESULTS / f'{stem}-{tag}.md'
    j.write_text(json.dumps(payload, indent=1, default=str) + '\n'); m.write_text(markdown + '\n')
    return j, m


def report(stem:str, payload:dict, lines:list[str], save:bool=True):
    "Print the markdown `lines` and, if `save`, write them with the raw `payload` (`write_results`)."
    md = '\n'.join(lines)
    print('\n' + md)
    if save:
        j, m = write_results(stem, payload, md)
        print(f"\nwritten: {j} and {m}")


def header(info:dict, extra:str='') -> str:
    "The lines above a table: when, where and on what."
    return (f"- date: {info['date']}; torch {info['torch']}, Python {info['python']}{extra}\n"
            f"- CPU: {info['cpu']} ({info['logical_cpus']} logical CPUs), {info['threads']} torch thread(s); "
            f"load average at start {info['load_average']}")
