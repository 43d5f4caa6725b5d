"""Accidents during a run (issue 18), each in a fresh process of the command line, as a user meets them: Ctrl-C in the middle
of training (the resumed run equals the uninterrupted one bit for bit), signals at random moments (SIGKILL, SIGINT, SIGTERM,
each run resumed until done, then compared bit for bit), a loss that overflows (a one-line error, nothing written), and
numeric options that are not numbers."""
import random, shutil, signal, subprocess, time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from ddpm_book.checkpoint_folder import checkpoint_files, read_checkpoint_config
from cli_process import cli_run as _run, cli_start as _start

ROOT = Path(__file__).resolve().parents[1]
STEPS = 100
RUN = ['--steps', STEPS, '--ckpt-every', 20, '--no-eval', '--threads', 1, '--quiet']




def _weights(folder: Path, role: str) -> dict:
    return load_file(str(checkpoint_files(folder)[role]))


@pytest.fixture(scope='module')
def whole(tmp_path_factory) -> Path:
    "The uninterrupted run that the interrupted ones must equal."
    out = tmp_path_factory.mktemp('faults') / 'whole'
    code, err = _run('train', *RUN, '--out', out)
    assert code == 0, err
    return out


def _same_run(a: Path, b: Path):
    "Assert that the checkpoints a and b hold the same finished run: losses, weights and EMA bit for bit."
    ma, mb = read_checkpoint_config(a)[1], read_checkpoint_config(b)[1]
    assert mb['state']['step'] == STEPS and ma['state']['losses'] == mb['state']['losses'], 'the losses differ'
    for role in ('model', 'ema', ):
        wa, wb = _weights(a, role), _weights(b, role)
        assert all((wa[k] == wb[k]).all() for k in wa), f'{role} weights differ after the resume'


def test_ctrl_c_resumes_bit_for_bit(tmp_path, whole, report):
    cut = tmp_path / 'cut'
    p = _start('train', *RUN, '--out', cut)
    t0 = time.time()
    while not (cut / 'config.json').exists():                  # the first checkpoint (step 20) is written
        assert p.poll() is None and time.time() - t0 < 300, p.communicate()[1]
        time.sleep(0.05)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    step = read_checkpoint_config(cut)[1]['state']['step']
    assert p.returncode == 130 and f'stopped after step {step}' in err and '--resume' in err, err
    assert 20 < step < STEPS, f'the signal came too late or too early to test anything (step {step})'
    code, err = _run('train', '--out', cut, '--resume', '--no-eval', '--threads', 1, '--quiet')
    assert code == 0, err
    _same_run(whole, cut)
    report(f'Ctrl-C after step {step} of {STEPS}: saved, resumed, weights, EMA and losses identical to the uninterrupted run')


SIGNALS = [signal.SIGKILL, signal.SIGINT, signal.SIGTERM] * 2   # six signals, in a random order


def test_signals_at_random_moments(tmp_path, whole, report):
    """Six signals at random moments (during imports, steps or saves); after each the run is resumed (or started again
    when no checkpoint was written yet) until it finishes, and then it must equal the uninterrupted run bit for bit."""
    rng, out, log = random.Random(18), tmp_path / 'run', []
    todo = rng.sample(SIGNALS, len(SIGNALS))
    for _ in range(len(SIGNALS) + 3):
        resume = ['--resume'] if (out / 'config.json').exists() else [*RUN]
        p = _start('train', '--out', out, *resume, '--no-eval', '--threads', 1, '--quiet')
        if todo:
            wait = rng.uniform(1.0, 8.0)        # imports take ~3 s, a step ~0.3 s, a checkpoint every 20 steps
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                p.send_signal(todo[0])
                log.append(f'{todo.pop(0).name}@{wait:.1f}s')
        _, err = p.communicate(timeout=600)
        assert 'Traceback' not in err, err
        assert p.returncode in (0, 130, -signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT), (p.returncode, err)
        if p.returncode == 0:
            if not todo:
                break
            shutil.rmtree(out)                  # finished before its signal came: the next trial starts afresh
    assert not todo and p.returncode == 0, f'signals left over: {todo}'
    _same_run(whole, out)
    report(f'signals at random moments ({", ".join(log)}): each resumed, the finished run identical to the uninterrupted one')


def test_overflowing_loss_stops_and_writes_nothing(tmp_path):
    out = tmp_path / 'nan'
    code, err = _run('train', '--steps', 5, '--lr', '1e30', '--no-eval', '--threads', 1, '--quiet', '--out', out)
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and 'error:' in lines[0], err
    assert ('loss became' in err or 'NaN or inf' in err) and 'learning rate' in err, err
    assert not (out / 'config.json').exists() and not (out / 'samples.png').exists()


@pytest.mark.parametrize('args', [['train', '--lr', 'inf'], ['train', '--lr', 'nan'], ['train', '--lr', '-1'],
                                  ['sample', '--ckpt', 'x', '--guidance', 'nan'], ['sample', '--ckpt', 'x', '--guidance', 'inf'],
                                  ['sample', '--ckpt', 'x', '--clip-x0', '0']])
def test_numeric_options_are_checked(args):
    code, err = _run(*args, timeout=120)
    assert code == 2 and 'expected a finite number' in err and '--help' in err, err
