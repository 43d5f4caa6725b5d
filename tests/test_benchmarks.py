"""benchmarks/peers.py compares like with like: at the digits recipe's network, ddpm_book's U-Net and its diffusers twin
have the same parameters, the same forward FLOPs (torch.utils.flop_counter) and, with the same weights and time code,
the same outputs. Only the architecture matching runs here (a few seconds); the timings are a script, not a test.
diffusers is an optional extra (pip install -e ".[bench]"): without it the test is skipped."""
import sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_digits_twin_matches(report):
    pytest.importorskip('diffusers', reason='diffusers is not installed (an optional extra: pip install -e ".[bench]"), '
                                            'so the benchmark against it cannot be checked')
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    try: import peers
    finally: sys.path.remove(str(ROOT / 'benchmarks'))
    r = peers.match_architecture('digits', batch=4)
    assert r['params_book'] == r['params_diffusers'] == 293_041, r
    assert r['fwd_flops_book'] == r['fwd_flops_diffusers'] > 0, r.get('flops_by_block')
    assert r['max_abs_output_diff'] < 1e-4, r['max_abs_output_diff']
    report(f"benchmarks: the digits network and its diffusers twin: {r['params_book']:,} parameters, "
           f"{r['fwd_flops_book'] / r['batch'] / 1e6:.2f} MFLOP per image forward, outputs equal to {r['max_abs_output_diff']:.1e}")
