"""Data-parallel training (chapter 08): 2 CPU processes against 1, a killed run resumed, the errors of bad setups.

Every run is `torchrun` (python -m torch.distributed.run) with gloo on 127.0.0.1 at a free port, OMP_NUM_THREADS=1, under a
timeout. torchrun starts its workers in sessions of their own, so each launch marks its processes with an environment variable
and whatever carries the mark is killed when a launch fails or times out, and checked gone after every test.
"""
import json, os, shutil, signal, socket, subprocess, sys, time, uuid
from pathlib import Path
import pytest
import torch
from safetensors.torch import load_file
from ddpm_book.dataset_files import write_fake_dataset
from ddpm_book.experiments import TINY
from ddpm_book.trainer import Trainer, train
from ddpm_book.checkpoint_folder import checkpoint_files, read_checkpoint_config

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300                    # seconds per launch; a launch takes 5–20 s on 2 shared cores
TOL = 1e-4                       # max |Δθ| between 1 process at batch B and 2 at B/2 after STEPS steps (see the notebook)
STEPS = 20
CFG = TINY.replace(steps=STEPS, batch_size=32, ema_decay=0.9)   # the tiny U-Net of chapter 08 (no dropout), lr 3e-3
MARK = 'DDPM_BOOK_TEST_DDP'

WORKER = r'''
import json, os, signal, sys
import torch.distributed as dist
from ddpm_book import trainer as T
from ddpm_book.utils import BookError
mode, spec = sys.argv[1], json.loads(sys.argv[2])
rank = int(os.environ['RANK'])
cfg = T.TrainConfig.from_dict(spec['cfg'])
if mode == 'train':
    if spec.get('kill_at') is not None:          # rank 1 dies by SIGKILL as it starts step kill_at, as when a machine is lost
        step = T.Trainer.train_batch
        def train_batch(tr):
            if tr.rank == 1 and tr.step == spec['kill_at']: os.kill(os.getpid(), signal.SIGKILL)
            return step(tr)
        T.Trainer.train_batch = train_batch
    tr = T.train(cfg, out=spec['out'], resume=spec.get('resume'), device='cpu', show_progress=False, ckpt_every=spec.get('ckpt_every'))
    print(json.dumps(dict(rank=tr.rank, world=tr.world, step=tr.step, wall=tr.wall_time)))
elif mode == 'errors':                           # each bad setup in turn, in one process group; every rank must raise
    dist.init_process_group('gloo')
    out = spec['out']
    cases = {
        'batch':      lambda: T.train(cfg.replace(batch_size=33), device='cpu', show_progress=False),
        'task':       lambda: T.train(cfg.replace(task='classify'), device='cpu', show_progress=False),
        'no data':    lambda: T.train(cfg.replace(data='mnist'), device='cpu', show_progress=False),
        'other data': lambda: T.train(cfg, device='cpu', show_progress=False, data=(X, y) if rank == 0 else (X[1:], y[1:])),
        'not shared': lambda: T.train(cfg, out=out if rank == 0 else out + f'-rank{rank}', device='cpu', show_progress=False),
    }
    from ddpm_book.data import get_dataset
    X, y = get_dataset('digits', 'train')
    os.environ['DDPM_BOOK_DATA'] = spec['mnist'] if rank == 0 else spec['empty']   # rank 1 stands for a machine without the files
    res = {}
    for name, f in cases.items():
        try: f(); res[name] = None
        except BookError as e: res[name] = str(e)
    json.dump(res, open(f"{spec['report']}.{rank}", 'w'))
    dist.destroy_process_group()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _marked(tag: str) -> list[int]:
    "Pids of the processes whose environment holds MARK=tag."
    found, needle, proc = [], f'{MARK}={tag}'.encode(), Path('/proc')
    if not proc.is_dir(): return found                         # no /proc (macOS): torchrun's own SIGTERM handling is all there is
    for p in proc.iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                if needle in (p / 'environ').read_bytes().split(b'\0'): found.append(int(p.name))
            except OSError: pass
    return found


def _kill_marked(tag: str):
    for pid in _marked(tag):
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass


class Launcher:
    "launcher(nproc, *args) runs torchrun on a module (module='NAME') or on the worker script; returns (exit code, stdout, stderr)."
    def __init__(self, folder: Path):
        self.folder, self.tag = folder, uuid.uuid4().hex
        self.worker = folder / 'ddp_worker.py'
        self.worker.write_text(WORKER)

    def __call__(self, nproc: int, *args, module: str | None = None, timeout: int = TIMEOUT):
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', str(nproc),
               '--master_addr', '127.0.0.1', '--master_port', str(_free_port())]
        cmd += (['-m', module] if module else [str(self.worker)]) + [str(a) for a in args]
        env = {**os.environ, 'OMP_NUM_THREADS': '1', MARK: self.tag,
               'PYTHONPATH': os.pathsep.join(p for p in [str(ROOT), os.environ.get('PYTHONPATH', '')] if p)}
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=self.folder,
                             start_new_session=True)
        try: out, err = p.communicate(timeout=timeout)
        except BaseException:                                   # a timeout, or the test interrupted: no process may outlive it
            _kill_marked(self.tag); p.kill(); p.communicate(); raise
        return p.returncode, out, err

    def close(self):
        _kill_marked(self.tag)                                  # what a failed launch may have left
        time.sleep(0.2)
        assert not _marked(self.tag), 'processes of the test outlived it'


@pytest.fixture
def launch(tmp_path):
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.close()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The reference runs, STEPS steps of CFG under torchrun: 1 process in the folder 'one', 2 processes in 'two'."
    folder = tmp_path_factory.mktemp('ddp')
    launcher = Launcher(folder)
    try:
        _check(launcher(1, 'train', _spec(folder / 'one')))
        _check(launcher(2, 'train', _spec(folder / 'two')))
    finally: launcher.close()
    return folder


def _spec(out, **kw) -> str:
    return json.dumps(dict(cfg=CFG.to_dict(), out=str(out), **{k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()}))


def _weights(folder, role='model') -> dict:
    return load_file(str(checkpoint_files(folder)[role]))


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _check(r):
    code, out, err = r
    assert code == 0, f'torchrun exited with {code}:\n{out[-3000:]}\n{err[-5000:]}'
    return out


def test_two_processes_match_one(runs, report):
    "(a) 2 processes at batch B/2 each = 1 process at batch B drawing the same samples, up to float rounding."
    one, two = read_checkpoint_config(runs / 'one')[1], read_checkpoint_config(runs / 'two')[1]
    assert one['state']['world_size'] == 1 and two['state']['world_size'] == 2 and two['state']['step'] == STEPS
    w1, w2 = _weights(runs / 'one'), _weights(runs / 'two')
    d, d_ema = _max_diff(w1, w2), _max_diff(_weights(runs / 'one', 'ema'), _weights(runs / 'two', 'ema'))
    d_loss = max(abs(a - b) for a, b in zip(one['state']['losses'], two['state']['losses']))
    # the control: one plain process draws other samples (its single generator stream), so its weights differ by far more
    plain = train(CFG, device='cpu', show_progress=False)
    d_plain = _max_diff(w1, {k: v.detach() for k, v in plain.model.state_dict().items()})
    moved = _max_diff(w1, {k: v.detach() for k, v in Trainer(CFG, 'cpu').model.state_dict().items()})   # from the initial weights
    report(f'data parallel, {STEPS} steps of batch {CFG.batch_size}: 1 vs 2 processes max |Δθ| {d:.2e} (EMA {d_ema:.2e}, '
           f'loss {d_loss:.2e}); tolerance {TOL:g}; other samples (plain run) {d_plain:.2e}; weights moved up to {moved:.2e} from their start')
    assert d <= TOL and d_ema <= TOL and d_loss <= 1e-5
    assert d_plain > 100 * TOL                                  # the check can tell other samples apart


def test_text_to_image_two_processes_match_one(launch, tmp_path, report):
    "The text-to-image task (chapter 18) is data parallel too: 2 processes = 1, its frozen VAE and CLIP from the store."
    from ddpm_book.stable_diffusion import sd_recipe, get_part, with_parts_root
    store = tmp_path / 'store'
    cfg = with_parts_root(sd_recipe(test=True), store).replace(steps=6, batch_size=8)
    spec = lambda out: json.dumps(dict(cfg=cfg.to_dict(), out=str(tmp_path / out)))
    code, out, err = launch(2, 'train', spec('none'))           # no parts in the store: refused on every rank, nothing trained
    assert code != 0 and 'are not in the store' in err and 'train the VAE and CLIP into the store first' in err, err[-3000:]
    for part in (cfg.model['vae'], cfg.model['clip']):
        get_part(part, store, 'cpu')                             # the tiny parts, trained once in this process
    _check(launch(1, 'train', spec('one')))
    _check(launch(2, 'train', spec('two')))
    one, two = read_checkpoint_config(tmp_path / 'one')[1], read_checkpoint_config(tmp_path / 'two')[1]
    assert one['state']['world_size'] == 1 and two['state']['world_size'] == 2 and sorted(two['parts']) == ['clip', 'vae']
    d = _max_diff(_weights(tmp_path / 'one'), _weights(tmp_path / 'two'))
    d_loss = max(abs(a - b) for a, b in zip(one['state']['losses'], two['state']['losses']))
    report(f'text-to-image, {cfg.steps} steps of batch {cfg.batch_size}: 1 vs 2 processes max |Δθ| {d:.2e}, '
           f'loss {d_loss:.2e}; tolerance {TOL:g}')
    assert d <= TOL and d_loss <= 1e-5


def test_killed_run_resumes(runs, launch, tmp_path, report):
    "(b) 2 ranks, rank 1 killed at step 13 (checkpoints every 5): resumed on 2 ranks = uninterrupted; resumed on 1 rank, up to rounding."
    whole_dir = runs / 'two'                                     # the uninterrupted 2-rank run
    code, out, err = launch(2, 'train', _spec(tmp_path / 'killed', kill_at=13, ckpt_every=5))
    assert code != 0 and read_checkpoint_config(tmp_path / 'killed')[1]['state']['step'] == 10, (code, err[-3000:])
    shutil.copytree(tmp_path / 'killed', tmp_path / 'killed1')
    _check(launch(2, 'train', _spec(tmp_path / 'killed', resume=tmp_path / 'killed', ckpt_every=5)))
    _check(launch(1, 'train', _spec(tmp_path / 'killed1', resume=tmp_path / 'killed1')))
    whole, resumed = read_checkpoint_config(whole_dir)[1], read_checkpoint_config(tmp_path / 'killed')[1]
    assert resumed['state']['step'] == STEPS and resumed['state']['losses'] == whole['state']['losses']
    for role in ('model', 'ema'):
        a, b = _weights(whole_dir, role), _weights(tmp_path / 'killed', role)
        assert all(torch.equal(a[k], b[k]) for k in a), f'{role}: the resumed 2-rank run differs from the uninterrupted one'
    d1 = _max_diff(_weights(whole_dir), _weights(tmp_path / 'killed1'))
    report(f'data parallel resume: 2 ranks killed at step 13, resumed from step 10 on 2 ranks: bit-identical; on 1 rank: max |Δθ| {d1:.2e}')
    assert d1 <= TOL


def test_one_process_checkpoint_resumes_on_two(runs, launch, tmp_path, report):
    "(b) a checkpoint written by 1 process (torchrun, step 10) resumed on 2 ranks = the 2-rank run from the start, up to rounding."
    _check(launch(1, 'train', json.dumps(dict(cfg=CFG.replace(steps=10).to_dict(), out=str(tmp_path / 'half')))))
    assert read_checkpoint_config(tmp_path / 'half')[1]['state']['world_size'] == 1
    _check(launch(2, 'train', _spec(tmp_path / 'half', resume=tmp_path / 'half')))
    meta = read_checkpoint_config(tmp_path / 'half')[1]
    d = _max_diff(_weights(runs / 'two'), _weights(tmp_path / 'half'))
    report(f'data parallel resume: 1 process to step 10, resumed on 2 ranks to step {STEPS}: max |Δθ| {d:.2e} from the 2-rank run')
    assert meta['state']['step'] == STEPS and meta['state']['world_size'] == 2 and d <= TOL


def test_cli_under_torchrun(launch, tmp_path):
    "`torchrun -m ddpm_book.cli train` trains on 2 processes (rank 0 alone samples); a batch that does not split is a one-line error."
    args = ['train', '--recipe', 'digits-test', '--steps', 6, '--batch-size', 16, '--out', tmp_path / 'cli', '--no-eval',
            '--eval-sampler', 'ddim', '--eval-steps', 2, '--quiet', '--device', 'cpu']
    out = _check(launch(2, *args, module='ddpm_book.cli'))
    assert out.count('ddpm_book train:') == 1 and '× 2 processes' in out and 'wrote' in out
    meta = read_checkpoint_config(tmp_path / 'cli')[1]
    assert meta['state']['world_size'] == 2 and meta['state']['step'] == 6 and (tmp_path / 'cli' / 'samples.png').exists()
    assert not list((tmp_path / 'cli').glob('.ddpm_book-shared-*'))
    args[args.index('--batch-size') + 1] = 15
    args[args.index('--out') + 1] = tmp_path / 'odd'
    code, out, err = launch(2, *args, module='ddpm_book.cli')
    assert code != 0 and 'ddpm_book: error: a batch of 15 does not split evenly over 2 processes' in err and 'multiple of 2' in err, err[-3000:]


def test_bad_setups(launch, tmp_path):
    "(c) a batch that does not split, a task that cannot, a rank without the data, ranks with other data, a folder not shared."
    write_fake_dataset('mnist', tmp_path / 'mnist', n_train=64)
    (tmp_path / 'empty').mkdir()
    report = tmp_path / 'report.json'
    _check(launch(2, 'errors', _spec(tmp_path / 'ck', mnist=tmp_path / 'mnist', empty=tmp_path / 'empty', report=report)))
    res = [json.loads(Path(f'{report}.{r}').read_text()) for r in (0, 1)]
    assert res[0].keys() == res[1].keys() and all(res[0][k] and res[1][k] for k in res[0]), res   # every case failed on every rank
    expect = {'batch': ['a batch of 33 does not split evenly over 2 processes', 'multiple of 2'],
              'task': ["the task 'classify' trains in one process only"],
              'no data': ['could not read the training data on every rank (rank 1:', 'same path on every machine'],
              'other data': ['rank(s) [1] got another result than rank 0 when they tried to fingerprint the training data'],
              'not shared': ['could not see the checkpoint folder', 'rank 1:', 'every process can reach']}
    for name, parts in expect.items():
        for r in (0, 1):
            assert all(p in res[r][name] for p in parts), f'{name}, rank {r}: {res[r][name]}'
    assert 'rank 0:' not in res[0]['no data'] and not list((tmp_path / 'ck').glob('.ddpm_book-shared-*'))
