"""One error style (issue 17, items 6 and 7): every error a user can fix is one of the library's
`BookError`s, which says what went wrong and how to fix it, and a name (prediction type, variance
type, spacing, sampler, schedule, dataset, split) is checked by one helper, `check_choice`."""

import ast, importlib, re
from pathlib import Path

import pytest
import torch

from ddpm_book.utils import BookError, BookTypeError, BookValueError, check_choice

LIB = Path(__file__).resolve().parents[1] / 'ddpm_book'
PLAIN = re.compile(r'raise (ValueError|TypeError|Exception)\(')
# Deliberate exceptions: {module: (how many plain raises it may keep, why)}. Nothing else may raise
# a plain ValueError, TypeError or Exception.
ALLOWED = {}


def _modules():
    return sorted(p for p in LIB.glob('*.py') if not p.name.startswith('_'))


def test_no_plain_errors_in_the_library():
    "Every module raises the library's errors, not a bare ValueError/TypeError/Exception."
    found = {p.stem: PLAIN.findall(p.read_text()) for p in _modules()}
    bad = {m: len(v) for m, v in found.items() if len(v) > ALLOWED.get(m, (0, ''))[0]}
    assert not bad, f'plain raises left (module: count), convert them to BookValueError: {bad}'


def test_allowed_list_is_not_stale():
    "A deliberate exception that has been converted comes off the list."
    for m, (n, why) in ALLOWED.items():
        p = LIB / f'{m}.py'
        if p.exists():
            assert len(PLAIN.findall(p.read_text())) == n, (m, why)


NAME_CHECK = re.compile(
    r'if \w+ not in \(?(PRED_TYPES|VAR_TYPES|SPACINGS|SAMPLERS|SCHEDULES|DATASETS|_SOURCES|'
    r'MODEL_PRESETS|ARCHS)\b'
)


def test_names_are_checked_once():
    "A check of a name goes through check_choice, never a hand-written `x not in NAMES` + raise."
    hits = [
        f'{p.name}:{i + 1}'
        for p in _modules()
        for i, line in enumerate(p.read_text().splitlines())
        if NAME_CHECK.search(line)
    ]
    assert not hits, f'hand-written name checks, use check_choice: {hits}'


def _error(f, *args, **kw) -> BookError:
    with pytest.raises(BookError) as e:
        f(*args, **kw)
    assert isinstance(e.value, BookError) and e.value.fix, e.value
    return e.value


def test_check_choice_names_the_choices():
    e = _error(check_choice, 'spacing', 'even', ('trailing', 'leading', 'linspace'))
    assert isinstance(e, ValueError) and 'even' in str(e)
    assert all(c in e.fix for c in ('trailing', 'leading', 'linspace')), e


# (module, function, args, kwargs, words the fix must name)
WRONG_INPUTS = [
    ('schedule', 'make_betas', ('quadratic',), {}, ['linear', 'cosine']),
    ('schedule', 'make_betas', ('linear',), {'T': 0}, ['T=']),
    ('losses', 'check_pred', ('score',), {}, ['eps', 'x0', 'v']),
    ('sampler', 'check_var_type', ('learned',), {}, ['fixed_small', 'fixed_large']),
    ('ddim', 'ddim_timesteps', (100, 10, 'even'), {}, ['trailing', 'leading', 'linspace']),
    ('unet', 'make_model', ('huge',), {}, ['digits']),
    ('unet', 'make_model', ('digits',), {'arch': 'rnn'}, ['unet']),
    ('data', 'get_dataset', ('imagenet',), {}, ['digits']),
    ('data', 'get_dataset', ('digits',), {'split': 'val'}, ['train', 'test']),
    ('toy', 'make_toy', ('cube',), {}, ['swiss_roll', 'moons', 'ring']),
    ('experiments', 'book_sweep', ('ddim',), {}, ['cg', 'cfg']),
    ('score', 'GaussianMixture', (torch.zeros(3), 1.0), {}, ['pass one row']),
    ('images', 'image_grid', (torch.zeros(4, 2),), {}, ['scatter']),
]


@pytest.mark.parametrize('module, fn, args, kw, words', WRONG_INPUTS)
def test_wrong_input_names_the_fix(module, fn, args, kw, words):
    "A wrong name, shape or number: a BookValueError whose fix names what to pass instead."
    e = _error(getattr(importlib.import_module(f'ddpm_book.{module}'), fn), *args, **kw)
    assert isinstance(e, BookValueError), type(e)
    assert all(w in e.fix for w in words), (words, str(e))
    assert '(fix: ' in str(e), str(e)


def test_wrong_type_is_a_book_type_error():
    "Float times where integer times are needed: a BookTypeError (still a TypeError) with its fix."
    from ddpm_book.schedule import Schedule

    e = _error(Schedule(10).check_t, torch.tensor([1.5]))
    assert isinstance(e, BookTypeError) and isinstance(e, TypeError)
    assert 'long' in e.fix, str(e)


@pytest.mark.parametrize('loader', ['load_mnist', 'load_cifar10'])
def test_missing_files_are_a_book_file_error(loader, tmp_path):
    "A dataset that is not on disk: a BookFileNotFoundError whose fix says where to put it."
    import ddpm_book.dataset_files as df
    from ddpm_book.utils import BookFileNotFoundError

    e = _error(getattr(df, loader), tmp_path, 'train', download=False)
    assert isinstance(e, BookFileNotFoundError) and isinstance(e, FileNotFoundError)
    assert 'download=True' in e.fix and str(tmp_path) in e.fix, str(e)


# One meaning per name (issue 17, item 7): see "Names in code" in chapter 01.
# Parameters named `schedule` set the public attribute or the stored entry of that name.
SCHEDULE_PARAMS = {('checkpoint', 'save_checkpoint'), ('stable_diffusion', '__init__')}


def _params():
    for p in _modules():
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = n.args
                for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
                    if x is not None:
                        yield p.stem, n.name, x.arg


def test_batch_size_is_never_bs():
    "A batch size a user passes is `batch_size`; `bs` is only a local variable."
    bad = [f'{m}.{f}' for m, f, a in _params() if a == 'bs']
    assert not bad, f'parameters named bs, rename them batch_size: {bad}'


def test_a_schedule_parameter_is_sched():
    "A Schedule passed to a function is `sched`, but where it sets the public `schedule`."
    bad = [(m, f) for m, f, a in _params() if a == 'schedule' and (m, f) not in SCHEDULE_PARAMS]
    assert not bad, f'parameters named schedule, rename them sched: {bad}'
