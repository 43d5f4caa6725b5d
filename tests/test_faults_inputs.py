"""Inputs the command line must refuse or survive (issue 18, items 4, 5 and 9), each in a fresh
process as a user meets them: Ctrl-C while the program is still importing torch, a crafted CIFAR-10
batch that would run a command when unpickled, and `eval` of a checkpoint in a folder it cannot
write (its evaluator's classifier goes to --cache)."""

import os, pickle, shutil, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

from ddpm_book.dataset_files import load_cifar10
from cli_process import cli_run as _run, cli_start as _start, one_line_error as _one_line_error

ROOT = Path(__file__).resolve().parents[1]




def test_ctrl_c_while_starting():
    "SIGINT while `python -m ddpm_book.cli` imports torch: one line, exit code 130, no traceback."
    # compiled first, as pip does when it installs: compiling cli.py after an edit takes a while
    subprocess.run([sys.executable, '-m', 'compileall', '-q', str(ROOT / 'ddpm_book')], check=True)
    codes = []
    for delay in (0.25, 0.35, 0.5, 0.8):  # after Python's own start (~0.05 s), during the imports
        p = _start('sample', '--help')
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        assert 'Traceback' not in err and p.returncode in (0, 130), (delay, p.returncode, err)
        if p.returncode == 130:
            assert len(err.strip().splitlines()) == 1 and 'interrupted' in err, err
        codes.append(p.returncode)
    assert 130 in codes, (
        f'every run finished before the signal (exit codes {codes}): nothing was tested'
    )


def _batch(path: Path, data: np.ndarray, labels: list, protocol: int = 2):
    "A batch in the layout of CIFAR-10's data_batch_1: b'data' uint8 (N, 3072) and b'labels'."
    with open(path, 'wb') as f:
        pickle.dump(
            {
                b'batch_label': b'a batch',
                b'labels': labels,
                b'data': data,
                b'filenames': [b'x.png'] * len(labels),
            },
            f,
            protocol=protocol,
        )


class _Crafted:
    "Unpickled, it calls os.system: a pickle may name any function to call while it loads."

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.system, (f'touch {self.target}',))


def _cifar(root: Path, n: int = 2) -> Path:
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for b in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        _batch(folder / b, rng.integers(0, 256, (n, 3072), dtype=np.uint8), [1] * n)
    return folder


def test_cifar_batch_that_runs_code_is_refused(tmp_path):
    folder, pwned = _cifar(tmp_path), tmp_path / 'PWNED'
    X, y = load_cifar10(tmp_path, 'train')  # the real layout still loads
    assert X.shape == (10, 3, 32, 32) and y.tolist() == [1] * 10
    _batch(folder / 'test_batch', np.zeros((1, 3072), np.uint8), [3], protocol=5)
    assert load_cifar10(tmp_path, 'test')[1].tolist() == [3]  # numpy's protocol-5 arrays too
    with open(folder / 'data_batch_1', 'wb') as f:
        pickle.dump({b'data': _Crafted(pwned), b'labels': [0]}, f, protocol=2)
    with pytest.raises(ValueError, match='not a CIFAR-10 batch'):
        load_cifar10(tmp_path, 'train')
    assert not pwned.exists(), 'unpickling the crafted batch ran its command'
    code, err = _run(
        'train',
        '--recipe',
        'digits-test',
        '--data',
        'cifar10',
        '--data-root',
        tmp_path,
        '--steps',
        1,
        '--no-eval',
        '--threads',
        1,
        '--quiet',
        '--out',
        tmp_path / 'run',
    )
    _one_line_error(code, err, 'not a CIFAR-10 batch', 'data_batch_1')
    assert not pwned.exists(), 'the command line unpickled the crafted batch'


def _read_only(folder: Path, on: bool) -> bool:
    """Make `folder` read-only (chmod; for root, which ignores modes, the immutable flag); False if
    this cannot be done."""
    if os.geteuid() != 0:
        folder.chmod(0o555 if on else 0o755)
        return True
    if not shutil.which('chattr'):
        return False
    return (
        subprocess.run(
            ['chattr', '+i' if on else '-i', str(folder)], capture_output=True
        ).returncode
        == 0
    )


def test_eval_of_a_read_only_checkpoint(tmp_path):
    ro = tmp_path / 'ro'
    code, err = _run(
        'train',
        '--recipe',
        'digits-test',
        '--steps',
        20,
        '--no-eval',
        '--threads',
        1,
        '--quiet',
        '--out',
        ro / 'tiny',
    )
    assert code == 0, err
    if not _read_only(ro, True):
        pytest.skip('cannot make a folder read-only here')
    try:
        _read_only(ro / 'tiny', True)
        args = (
            'eval',
            '--ckpt',
            ro / 'tiny',
            '--n',
            50,
            '--sampler',
            'ddim',
            '--steps',
            3,
            '--threads',
            1,
            '--quiet',
            '--out',
            tmp_path / 'out' / 'm.json',
        )
        code, err = _run(*args, timeout=120)
        _one_line_error(code, err, "classifier cache", '--cache')
        code, err = _run(*args, '--cache', tmp_path / 'cache', timeout=300)
        assert code == 0, err
        assert (tmp_path / 'out' / 'm.json').is_file() and (
            tmp_path / 'cache' / 'digits-classifier' / 'config.json'
        ).is_file()
        assert sorted(p.name for p in ro.iterdir()) == ['tiny']
    finally:
        _read_only(ro / 'tiny', False)
        _read_only(ro, False)
