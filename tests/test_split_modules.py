"""Issue 17: chapters 8.3 and 09 export small modules with one job each.

`checkpoint` was one module of 727 lines and `metrics` one of 573. They are now six modules, each short enough to read in
one sitting; the old modules still give every name they gave before; the layer that only touches files imports no model
code; and their user errors are the library's `BookValueError`, with a fix.
"""
import ast, importlib
from pathlib import Path

import pytest
import torch

from ddpm_book.utils import BookValueError

ROOT = Path(__file__).resolve().parents[1]
NEW = ['checkpoint_folder', 'denoiser', 'checkpoint', 'evaluators', 'metrics', 'eval_reports']
# `__all__` of the two modules before the split: every one of these must still import from there
OLD_ALL = {
    'checkpoint': ['CKPT_KIND', 'CKPT_HINT', 'FLAT_FILES', 'BUILDERS', 'CheckpointWriteError', 'save_checkpoint',
                   'read_checkpoint_config', 'checkpoint_files', 'load_weights', 'Denoiser', 'Checkpoint',
                   'load_checkpoint', 'load_part', 'rollback_checkpoint', 'foreign_outputs', 'record_outputs'],
    'metrics': ['CLASSIFIER_NAME', 'CLASSIFIER_TRAIN', 'EVALUATORS', 'evaluate_digits', 'SAMPLER_GRID', 'Evaluator',
                'register_evaluator', 'get_evaluator', 'get_classifier', 'digits_features', 'floor_images',
                'sample_quality', 'predicted_classes', 'class_histogram', 'evaluate', 'quality_table',
                'compare_samplers', 'sampler_table', 'plot_samplers', 'toy_quality', 'toy_table'],
}


def _source(mod: str) -> str:
    return (ROOT / 'ddpm_book' / f'{mod}.py').read_text()


def _library_imports(mod: str) -> set[str]:
    "The ddpm_book modules `mod` imports at its top level, less utils."
    found = set()
    for n in ast.parse(_source(mod)).body:
        if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module:
            found.add(n.module.split('.')[0])
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or '').startswith('ddpm_book.'):
            found.add(n.module.split('.')[1])
    return found - {'utils'}


@pytest.mark.parametrize('mod', NEW)
def test_short_enough_to_read(mod):
    n = len(_source(mod).splitlines())
    assert n <= 400, f'ddpm_book/{mod}.py has {n} lines (aim: at most 400)'


@pytest.mark.parametrize('old', sorted(OLD_ALL))
def test_old_names_still_import(old):
    m = importlib.import_module(f'ddpm_book.{old}')
    missing = [n for n in OLD_ALL[old] if not hasattr(m, n)]
    assert not missing, f'ddpm_book.{old} no longer gives {missing}'
    starred = set(m.__all__)
    assert set(OLD_ALL[old]) <= starred, f'`from ddpm_book.{old} import *` lost {set(OLD_ALL[old]) - starred}'


def test_each_name_defined_once():
    "A re-exported name is the very object its defining module holds, not a copy."
    import ddpm_book.checkpoint as C, ddpm_book.checkpoint_folder as F, ddpm_book.denoiser as D
    import ddpm_book.metrics as M, ddpm_book.evaluators as E, ddpm_book.eval_reports as R

    assert C.read_checkpoint_config is F.read_checkpoint_config and C.Denoiser is D.Denoiser
    assert C.CheckpointWriteError is F.CheckpointWriteError and C.rollback_checkpoint is F.rollback_checkpoint
    assert M.get_evaluator is E.get_evaluator and M.EVALUATORS is E.EVALUATORS
    assert M.toy_table is R.toy_table and M.quality_table is R.quality_table
    assert callable(getattr(E.Evaluator, 'memorisation', None)), 'Evaluator.memorisation is defined with the class'


def test_layers_import_one_way():
    "The file layer and the tables import no model code; the denoiser needs only the conditions."
    assert _library_imports('checkpoint_folder') == set()
    assert _library_imports('denoiser') == {'conditions'}
    assert _library_imports('eval_reports') == set()
    assert 'checkpoint' not in _library_imports('checkpoint_folder') | _library_imports('denoiser')
    assert 'metrics' not in _library_imports('evaluators') | _library_imports('eval_reports')


@pytest.mark.parametrize('mod', NEW)
def test_no_bare_value_errors(mod):
    "User errors are `BookValueError`s, which carry a fix."
    bare = [n.lineno for n in ast.walk(ast.parse(_source(mod)))
            if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)
            and getattr(n.exc.func, 'id', None) == 'ValueError']
    assert not bare, f'ddpm_book/{mod}.py raises a bare ValueError at lines {bare}'


def test_toy_quality_errors_name_the_fix():
    from ddpm_book.metrics import toy_quality

    with pytest.raises(BookValueError) as e:
        toy_quality(torch.zeros(8, 2), 'digits')
    assert "'moons'" in e.value.fix
    with pytest.raises(BookValueError) as e:
        toy_quality(torch.zeros(10**6, 2), 'moons')
    assert e.value.fix.startswith('pass at most')
