"""Runs that meet each other or stall (issue 18, items 7, 8 and 10), each in fresh processes of the command line: two
trainings into one --out (the second is refused at once, naming the first, which completes), the lock file of a killed run
(it blocks nothing), one torchrun rank stopped by SIGSTOP (the other stops within --timeout with an error naming it, instead
of waiting for gloo's 30 minutes), and --resume with options that would change the run (refused, nothing rewritten)."""
import json, os, signal, socket, subprocess, sys, threading, time, uuid
from pathlib import Path

import torch

from ddpm_book.checkpoint_folder import read_checkpoint_config
from cli_process import cli_env, cli_run, cli_start
from ddpm_book.experiments import RECIPES
from ddpm_book.trainer import train

ROOT = Path(__file__).resolve().parents[1]
TINY = ['--recipe', 'digits-test', '--no-eval', '--eval-sampler', 'ddim', '--eval-steps', 2, '--threads', 1, '--quiet']
NEVER = ['--steps', 100_000, '--ckpt-every', 1_000_000]    # a run that trains until it is stopped, and saves nothing
MARK = 'DDPM_BOOK_TEST_RUNS'
ENV = cli_env(OMP_NUM_THREADS='1')


def _start(*args, **kw) -> subprocess.Popen:
    return cli_start(*args, env=ENV, **kw)


def _run(*args, timeout=300) -> tuple[int, str]:
    return cli_run(*args, timeout=timeout, env=ENV)


def _holder(out: Path) -> dict:
    "What the run lock file of `out` says about its holder ({} while there is none)."
    try: return json.loads((out / '.run.lock').read_text() or '{}')
    except (OSError, ValueError): return {}


def _wait(cond, p: subprocess.Popen, what: str, limit: float = 180):
    t0 = time.time()
    while not cond():
        assert p.poll() is None, f'the run ended before {what}: {p.communicate()[1][-3000:]}'
        assert time.time() - t0 < limit, f'no {what} after {limit} s'
        time.sleep(0.05)


def test_second_run_into_one_folder_is_refused(tmp_path, report):
    out, steps = tmp_path / 'run', 250
    first = _start('train', *TINY, '--steps', steps, '--ckpt-every', 1_000_000, '--out', out)
    try:
        _wait(lambda: _holder(out).get('pid') == first.pid, first, 'lock taken by the first run')
        t0 = time.time()
        code, err = _run('train', *TINY, '--steps', 5, '--out', out)
        took = time.time() - t0
        assert code == 2 and err.count('\n') == 1 and 'in use by another run' in err, err
        assert f'process {first.pid} on {socket.gethostname()}, started 20' in err and '--out' in err, err
        assert not (out / 'config.json').exists(), 'the second run ended after the first had saved: nothing tested'
        _, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err
    meta = read_checkpoint_config(out)[1]
    assert meta['train']['steps'] == meta['state']['step'] == steps and not (out / '.run.lock').exists()
    report(f'two runs into one --out: the second refused in {took:.1f} s naming the first, which completed')


def test_lock_file_of_a_killed_run_blocks_nothing(tmp_path):
    out = tmp_path / 'run'
    killed = _start('train', *TINY, *NEVER, '--out', out)
    try: _wait(lambda: _holder(out).get('pid') == killed.pid, killed, 'lock taken')
    finally: killed.kill()
    killed.communicate()
    assert _holder(out).get('pid') == killed.pid                # its lock file is left behind ...
    code, err = _run('train', *TINY, '--steps', 5, '--out', out)
    assert code == 0, err                                       # ... and blocks nothing
    assert read_checkpoint_config(out)[1]['state']['step'] == 5 and not (out / '.run.lock').exists()


def test_resume_options_that_change_the_run_are_refused(tmp_path):
    out, threads = tmp_path / 'run', torch.get_num_threads()
    torch.set_num_threads(1)                                    # the run to resume, trained here (no sampling)
    try: train(RECIPES['digits-test'].replace(steps=100), out=out, device='cpu', show_progress=False)
    finally: torch.set_num_threads(threads)
    before = (out / 'config.json').read_text()
    for args, said in [(['--data', 'moons'], '--data moons differs from its digits'),
                       (['--steps', 50], '--steps 50 is below the 100 steps of the run')]:
        code, err = _run('train', '--out', out, '--resume', *args, '--no-eval', '--threads', 1, '--quiet')
        assert code == 2 and err.count('\n') == 1 and said in err and 'fix:' in err, err
    assert (out / 'config.json').read_text() == before


def _marked(tag: str) -> dict[int, int]:
    "{rank: pid} of the torchrun workers whose environment holds MARK=tag."
    found = {}
    for p in Path('/proc').iterdir():
        if p.name.isdigit():
            try: env = dict(v.split(b'=', 1) for v in (p / 'environ').read_bytes().split(b'\0') if b'=' in v)
            except OSError: continue
            if env.get(MARK.encode()) == tag.encode() and b'RANK' in env:
                found[int(env[b'RANK'])] = int(p.name)
    return found


def test_stopped_rank_ends_the_run_within_the_timeout(tmp_path, report):
    if not Path('/proc').is_dir():
        import pytest; pytest.skip('finding the ranks needs /proc')
    timeout, out, tag = 10, tmp_path / 'ddp', uuid.uuid4().hex
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2',
           '--master_addr', '127.0.0.1', '--master_port', str(port), '-m', 'ddpm_book.cli', 'train', *map(str, TINY),
           '--steps', '100000', '--ckpt-every', '5', '--batch-size', '16', '--device', 'cpu',
           '--timeout', str(timeout), '--out', str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                         env={**ENV, MARK: tag}, start_new_session=True)
    lines, errors = [], threading.Event()

    def read():
        for line in p.stderr:
            lines.append(line)
            if 'ddpm_book: error:' in line: errors.set()
    threading.Thread(target=read, daemon=True).start()
    try:
        _wait(lambda: (out / 'config.json').exists(), p, 'first checkpoint (step 5)')
        ranks = _marked(tag)
        assert set(ranks) == {0, 1}, ranks
        os.kill(ranks[1], signal.SIGSTOP)
        t0 = time.time()
        assert errors.wait(timeout + 60), f'no error {timeout + 60} s after rank 1 stopped:\n{"".join(lines)[-3000:]}'
        took = time.time() - t0
        os.kill(ranks[1], signal.SIGKILL)
        p.wait(timeout=120)
    finally:
        for pid in _marked(tag).values():
            try: os.kill(pid, signal.SIGKILL)
            except ProcessLookupError: pass
        p.kill(); p.wait()
    line = next(l for l in lines if 'ddpm_book: error:' in l)
    assert 'rank 0 of 2 waited 10 s' in line and 'rank(s) 1' in line and '--timeout' in line and '--resume' in line, line
    assert took < timeout + 30 and p.returncode != 0, (took, p.returncode)
    assert not _marked(tag), 'processes of the test outlived it'
    report(f'torchrun, rank 1 stopped (SIGSTOP), --timeout {timeout}: rank 0 stopped after {took:.0f} s naming rank 1')
