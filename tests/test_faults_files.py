"""Damaged and foreign files in a checkpoint folder (issue 18, items 3-6 and 10), each met through the command line in a
fresh process (the 16 cases of every file damaged every way run in this one): a corrupted ema.safetensors, a truncated, a pickled or a missing optimizer.pt, a config.json without
"state", with a string step or from a newer ddpm_book, a full disk during a save, and a user's files in --out. Each must
end in one line `error: ... (fix: ...)`, and nothing the checkpoint did not write may be deleted or overwritten.
One small run is trained per module; every case works on a copy of it."""
import json, os, pickle, shutil, subprocess
from pathlib import Path

import pytest

from ddpm_book.checkpoint import load_checkpoint
from ddpm_book.checkpoint_folder import read_checkpoint_config, rollback_checkpoint
from cli_process import cli_run as _run, one_line_error as _one_line_error

ROOT = Path(__file__).resolve().parents[1]
QUIET = ['--no-eval', '--threads', 1, '--quiet']




@pytest.fixture(scope='module')
def base(tmp_path_factory) -> Path:
    "A CLI run of 3 steps saved after every step: it keeps two versions, v000002 and v000003."
    out = tmp_path_factory.mktemp('faults_files') / 'run'
    code, err = _run('train', '--steps', 3, '--ckpt-every', 1, *QUIET, '--out', out)
    assert code == 0, err
    assert read_checkpoint_config(out)[1]['versions'] == ['v000002', 'v000003']
    return out


@pytest.fixture
def ck(base, tmp_path) -> Path:
    return Path(shutil.copytree(base, tmp_path / 'run'))


def _meta(ck: Path) -> dict:
    return json.loads((ck / 'config.json').read_text())


def _edit(ck: Path, **kw):
    "Rewrite config.json with the keys in kw changed (None: removed)."
    meta = _meta(ck)
    for k, v in kw.items():
        meta.pop(k, None) if v is None else meta.__setitem__(k, v)
    (ck / 'config.json').write_text(json.dumps(meta))


def _file(ck: Path, role: str) -> Path:
    return ck / _meta(ck)['files'][role]


def test_corrupted_ema_is_named_with_the_older_whole_version(ck):
    f = _file(ck, 'ema')
    b = bytearray(f.read_bytes())
    b[-200:-100] = bytes(100)                                  # the tensors' bytes; the header is intact
    f.write_bytes(bytes(b))
    code, err = _run('sample', '--ckpt', ck, '--n', 1, '--sampler', 'ddim', '--steps', 2, '--out', ck / 's.png',
                     '--threads', 1, '--quiet')
    _one_line_error(code, err, 'v000003/ema.safetensors is damaged', 'sha256', 'v000002 (step 2)', 'rollback_checkpoint')
    assert not (ck / 's.png').exists()
    rollback_checkpoint(ck)                                    # the fix the message names
    assert load_checkpoint(ck, 'cpu').step == 2


def test_truncated_optimizer_on_resume(ck):
    f = _file(ck, 'optimizer')
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    code, err = _run('train', '--out', ck, '--resume', *QUIET)
    _one_line_error(code, err, 'optimizer.pt is damaged', 'v000002')


def test_pickle_in_place_of_optimizer_is_not_run(ck):
    f = _file(ck, 'optimizer')
    f.write_bytes(pickle.dumps({'optimizer': Path('/not/a/tensor')}))
    _edit(ck, checksums=None)                                  # as saved before checksums: torch.load itself must refuse it
    code, err = _run('train', '--out', ck, '--resume', *QUIET)
    _one_line_error(code, err, 'optimizer.pt cannot be read', 'UnpicklingError', 'not an optimizer.pt')


def test_missing_optimizer_names_the_checkpoint_not_data_root(ck):
    _file(ck, 'optimizer').unlink()
    code, err = _run('train', '--out', ck, '--resume', *QUIET)
    _one_line_error(code, err, 'optimizer.pt not found', 'optimiser state', 'v000002')
    assert '--data-root' not in err


@pytest.mark.parametrize('state, words', [(None, ['records no training state']),
                                          ({'step': '3', 'losses': [], 'wall_time': 0.0}, ["step '3'", 'whole number'])])
def test_bad_training_state_on_resume(ck, state, words):
    _edit(ck, state=state)
    code, err = _run('train', '--out', ck, '--resume', *QUIET)
    _one_line_error(code, err, 'config.json', *words)


def test_checkpoint_of_a_newer_version_is_refused(ck):
    _edit(ck, version='99.0.0')
    code, err = _run('sample', '--ckpt', ck, '--n', 1, '--out', ck / 's.png', '--threads', 1, '--quiet')
    _one_line_error(code, err, 'ddpm_book 99.0.0', 'upgrade ddpm_book')


def test_full_disk_keeps_the_previous_version(base, tmp_path):
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs needs root')
    mnt = tmp_path / 'small'
    mnt.mkdir()
    used = sum(f.stat().st_size for f in base.rglob('*') if f.is_file())
    size = used // 1024 + 2048                                 # room for the copy, not for a new version (~5 MB)
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}k', 'tmpfs', str(mnt)]).returncode:
        pytest.skip('cannot mount a tmpfs here')
    try:
        ck = Path(shutil.copytree(base, mnt / 'run'))
        before = (ck / 'config.json').read_bytes()
        code, err = _run('train', '--out', ck, '--resume', '--steps', 4, *QUIET)
        _one_line_error(code, err, 'the disk is full', 'the previous version is kept')
        assert (ck / 'config.json').read_bytes() == before and not (ck / 'v000004').exists()
        assert load_checkpoint(ck, 'cpu').step == 3
    finally:
        subprocess.run(['umount', str(mnt)])


def test_user_folders_named_like_versions_survive(ck):
    for v in ('v000004', 'v000007'):                           # the next version's name, and a later one
        (ck / v).mkdir()
        (ck / v / 'results.txt').write_text('mine')
    code, err = _run('train', '--out', ck, '--force', '--steps', 2, *QUIET)
    assert code == 0, err
    assert all((ck / v / 'results.txt').read_text() == 'mine' for v in ('v000004', 'v000007'))
    assert _meta(ck)['versions'] == ['v000003', 'v000005'], _meta(ck).get('versions')
    assert not (ck / 'v000002').exists()                       # owned by the checkpoint, so deleted


def test_user_samples_png_is_not_overwritten(ck):
    (ck / 'samples.png').write_bytes(b'my own picture')
    code, err = _run('train', '--out', ck, '--resume', '--steps', 4, *QUIET)
    _one_line_error(code, err, 'samples.png', 'did not write', '--force')
    assert (ck / 'samples.png').read_bytes() == b'my own picture'
    assert read_checkpoint_config(ck)[1]['state']['step'] == 3


SPOIL = {  # how a file gets damaged: a bit flipped inside, cut in half, emptied, replaced by text
    'flip': lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 1]) + b[len(b) // 2 + 1:],
    'truncate': lambda b: b[: len(b) // 2],
    'empty': lambda b: b'',
    'garbage': lambda b: b'not a checkpoint file\n' * 10,
}


def _main(*args) -> tuple[int, str]:
    "The command line in this process (no start-up cost): exit code and stderr."
    import contextlib, io
    from ddpm_book.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return code, err.getvalue()


@pytest.mark.parametrize('how', list(SPOIL))
@pytest.mark.parametrize('role', ['model', 'ema', 'optimizer', 'config'])
def test_every_file_damaged_every_way(ck, role, how, report):
    """Each file of the current version (and config.json) damaged in each way: resuming the run, which reads them all,
    ends in one line naming the problem, and the damaged run is not overwritten."""
    f = ck / 'config.json' if role == 'config' else _file(ck, role)
    f.write_bytes(SPOIL[how](f.read_bytes()))
    contents = lambda: {p: p.read_bytes() for p in ck.rglob('*') if p.is_file() and not p.name.endswith('.lock')}
    before = contents()
    code, err = _main('train', '--out', ck, '--resume', '--steps', 4, *QUIET)
    _one_line_error(code, err)
    assert contents() == before, 'a refused resume changed the folder'
    if role == 'config':
        code, err = _main('sample', '--ckpt', ck, '--n', 4, '--quiet', '--out', ck / 'x.png')
        _one_line_error(code, err)
