"""The trainer as parts (issue 17): short modules, every Trainer method written in its class, a step
composed of small pieces that computes exactly what the one long method computed, and tasks that keep
their own data and frozen parts instead of writing attributes into the trainer."""
import ast
from pathlib import Path
import pytest
import torch
from torch import nn
from ddpm_book.experiments import TINY
from ddpm_book.trainer import Trainer
from ddpm_book.utils import exists

ROOT = Path(__file__).resolve().parents[1]
MODULES = ('trainer', 'step_parts', 'run_lock', 'resume', 'store')
METHODS = ('train_batch', 'check_finite', 'fit', 'save', 'from_checkpoint')
CFG = TINY.replace(
    steps=4, batch_size=16, warmup=3, num_classes=10, p_uncond=0.2, grad_clip=0.5, ema_decay=0.9
)


@pytest.mark.parametrize('name', MODULES)
def test_module_short_and_unpatched(name):
    "Each module of the trainer reads in one sitting and patches nothing onto a class later."
    src = (ROOT / 'ddpm_book' / f'{name}.py').read_text()
    assert len(src.splitlines()) <= 400, f'{name}.py has {len(src.splitlines())} lines'
    assert '@patch' not in src, f'{name}.py patches methods onto a class'


def test_trainer_methods_in_class():
    "A reader finds every method of Trainer in its class body."
    tree = ast.parse((ROOT / 'ddpm_book' / 'trainer.py').read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == 'Trainer')
    defined = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert set(METHODS) <= defined, f'not in the class body: {set(METHODS) - defined}'


def _old_train_batch(tr):
    "train_batch as one method, before it was split into pieces (the reference, copied verbatim)."
    cfg = tr.cfg
    if tr.lr_sched is None:
        for g in tr.opt.param_groups:
            g['lr'] = tr.lr_at(tr.step)
    tr.net.train()
    with torch.autocast(tr.device.type, dtype=tr.amp, enabled=exists(tr.amp)):
        loss = tr.task.loss(tr)
    tr.opt.zero_grad(set_to_none=True)
    tr.scaler.scale(loss).backward()
    if exists(cfg.grad_clip):
        tr.scaler.unscale_(tr.opt)
        nn.utils.clip_grad_norm_(tr.model.parameters(), cfg.grad_clip)
    tr.scaler.step(tr.opt)
    tr.scaler.update()
    if exists(tr.lr_sched):
        tr.lr_sched.step()
    if exists(tr.ema):
        tr.ema.update(tr.model)
    tr.step += 1
    return loss.detach()


@pytest.mark.parametrize('schedule', ['warmup', 'onecycle'])
def test_pieces_compute_the_old_step(schedule):
    "The composed step gives the old method's losses, weights, EMA and generator state, bit for bit."
    from ddpm_book.step_parts import MixedPrecision, clip_grad, warmup_lr, set_lr, seed_step  # noqa: F401

    cfg = CFG.replace(lr_schedule=schedule)
    a, b = Trainer(cfg, 'cpu'), Trainer(cfg, 'cpu')
    la = [a.train_batch() for _ in range(cfg.steps)]
    lb = [_old_train_batch(b) for _ in range(cfg.steps)]
    assert torch.equal(torch.stack(la), torch.stack(lb))
    for m, n in ((a.model, b.model), (a.ema.model, b.ema.model)):
        for p, q in zip(m.state_dict().values(), n.state_dict().values()):
            assert torch.equal(p, q)
    assert torch.equal(a.gen.get_state(), b.gen.get_state())
    assert a.opt.param_groups[0]['lr'] == b.opt.param_groups[0]['lr']


def test_warmup_lr_is_the_old_formula():
    "The learning rate of the warm-up, step by step, and no warm-up at all."
    from ddpm_book.step_parts import warmup_lr

    assert [warmup_lr(1e-3, 4, s) for s in range(6)] == [
        1e-3 * min(1.0, (s + 1) / 4) for s in range(6)
    ]
    assert warmup_lr(1e-3, 0, 7) == 1e-3


def _own_attributes() -> set:
    "The attributes Trainer's own code assigns (self.<name> = ... anywhere in its class body)."
    tree = ast.parse((ROOT / 'ddpm_book' / 'trainer.py').read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == 'Trainer')
    names = set()
    for node in ast.walk(cls):
        for t in getattr(node, 'targets', [getattr(node, 'target', None)]):
            for e in ast.walk(t) if t is not None else ():
                if isinstance(e, ast.Attribute) and getattr(e.value, 'id', '') == 'self':
                    names.add(e.attr)
    return names


@pytest.mark.parametrize('task', ['ddpm', 'classify', 'noisy_classify'])
def test_tasks_keep_their_own_state(task):
    "A task keeps its data on its own copy: the trainer holds no attribute a task invented."
    from ddpm_book.tasks import get_task
    from ddpm_book.schedule import Schedule
    from ddpm_book.eval_classifier import classifier_recipe
    from ddpm_book.classifier_guidance import noisy_classifier_recipe

    small = dict(steps=2, batch_size=8)
    cfg = {
        'ddpm': CFG,
        'classify': classifier_recipe(ch=4, feat_dim=8, epochs=1, batch_size=8).replace(steps=2),
        'noisy_classify': noisy_classifier_recipe(Schedule(T=100), ch=8, emb_dim=8, **small),
    }[task]
    tr = Trainer(cfg, 'cpu')
    extra = set(vars(tr)) - _own_attributes()
    assert not extra, f'the task {task!r} wrote {sorted(extra)} into the trainer'
    assert tr.task is not get_task(task) and not hasattr(get_task(task), 'X')
    assert len(tr.task.X) == tr.data['n']
    tr.train_batch()  # the task trains from what it keeps


def test_classifier_guidance_errors_say_the_fix():
    "The noise-aware classifier's errors are the library's error type, with the fix."
    from ddpm_book.utils import BookValueError
    from ddpm_book.classifier_guidance import NoisyClassifier, classifier_grad

    with pytest.raises(BookValueError, match='fix'):
        NoisyClassifier((1, 2, 3, 4), 10)
    clf = NoisyClassifier((2,), 3)
    with pytest.raises(BookValueError, match='fix'):
        clf(torch.zeros(4, 5), torch.ones(4, dtype=torch.long))
    with pytest.raises(BookValueError, match='fix'):
        classifier_grad(clf, torch.zeros(4, 2), torch.ones(4, dtype=torch.long), torch.zeros(3))
