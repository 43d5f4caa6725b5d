"""The saved outputs of the notebooks, read as a book's pages (cheap: reads the .ipynb files, builds no site).

- every cell with an image output is a numbered figure: Quarto's `#| label: fig-<chapter>-<name>` and `#| fig-cap:`
  (and `#| fig-subcap:` when the cell draws more than one image), with `#| slow` kept the first line;
- every figure is referenced by number (`@fig-...`) from its notebook's prose;
- no saved figure is wider than MAX_WIDTH px (the page column is ~720-750 px at 1280 px; a wider figure is scaled down
  and its fonts shrink), except the few listed in WIDE with the reason;
- no notebook over 1 MB, nbs/*.ipynb together under 4 MB;
- no progress bar and no note to the developer in a saved output.

Set OUTPUTS_NBS to another folder of notebooks to check it instead of nbs/ (e.g. an older tree, to see the checks fail).
"""
import base64, json, os, re, struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = Path(os.environ.get('OUTPUTS_NBS', ROOT/'nbs'))
MAX_WIDTH = 1000  # px of a saved PNG
MAX_NB, MAX_TOTAL = 1_000_000, 4_000_000  # bytes
LEFTOVERS = ('it/s]', '%|', 'no CUDA device here', 'this notebook ran in')
# Figures that stay wider than MAX_WIDTH, with the reason. Each is drawn by a `#| slow` cell or a cell that needs a book
# model trained at full size (hours on a CPU, not in runs/ here), so its code can only be changed when it is re-run.
WIDE = {
    'fig-08d-toy-models': 'slow cell: loads the three full toy models (runs/moons, swiss_roll, ring)',
    'fig-09-digits-samples': 'slow cell: the full digits model and 10 000 DDPM samples',
    'fig-09-mnist-samples': 'slow cell: the full mnist5k model and its samples',
    'fig-08d-digits-model': 'slow cell: the full digits model',
    'fig-13-cg-sweep': 'needs the full noisy classifier and the digits model (chapter 13 sweep)',
    'fig-13-cg-samples': 'needs the full noisy classifier and the digits model (chapter 13 sweep)',
    'fig-14-cfg-sweep': 'needs the full conditional digits model (chapter 14 sweep)',
    'fig-14-cg-vs-cfg': 'needs the full models of chapters 13 and 14',
    'fig-14-samples': 'needs the full models of chapters 13 and 14',
    'fig-14-four-denoisers': 'needs the full digits and conditional digits models',
    'fig-16-pair-scores': 'needs the full CLIP and bag-of-words CLIP of chapter 16',
    'fig-09-gaussian-samples': 'chapter 09 was not re-run (its classifiers train for minutes)',
    'fig-09-gaussian-kl': 'chapter 09 was not re-run (its classifiers train for minutes)',
}


def notebooks():
    return sorted(NBS.glob('*.ipynb'))


def options(src: str) -> list:
    "The leading `#|` lines of a cell."
    out = []
    for line in src.split('\n'):
        if not line.startswith('#|'): break
        out.append(line)
    return out


def png_width(b64: str) -> int:
    return struct.unpack('>I', base64.b64decode(b64)[16:20])[0]


def figures(nb: dict):
    "(cell index, source, list of base64 PNGs) of each code cell with an image output."
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'code': continue
        pngs = [o['data']['image/png'] for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
        if pngs: yield i, ''.join(c['source']), pngs


def label_of(src: str):
    m = [re.match(r'#\|\s*label:\s*(fig-\S+)', l) for l in options(src)]
    return next((x.group(1) for x in m if x), None)


def caption_problems(path: Path, nb: dict) -> list:
    chapter = path.stem.split('_')[0]
    bad = []
    for i, src, pngs in figures(nb):
        opts, lab = options(src), label_of(src)
        if not lab or not lab.startswith(f'fig-{chapter}-'):
            bad.append(f'{path.name} cell {i}: no `#| label: fig-{chapter}-...`')
        if not any(re.match(r'#\|\s*fig-cap:\s*\S', l) for l in opts):
            bad.append(f'{path.name} cell {i}: no `#| fig-cap:`')
        if len(pngs) > 1 and not any(l.startswith('#| fig-subcap:') for l in opts):
            bad.append(f'{path.name} cell {i}: {len(pngs)} images but no `#| fig-subcap:`')
        if '#| slow' in src.split('\n') and src.split('\n')[0] != '#| slow':
            bad.append(f'{path.name} cell {i}: `#| slow` must stay the first line')
    return bad


def reference_problems(path: Path, nb: dict) -> list:
    prose = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    refs = set(re.findall(r'@(fig-[\w-]*\w)', prose))
    labels = [label_of(src) for _, src, _ in figures(nb)]
    bad = [f'{path.name}: {lab} is never referenced as @{lab}' for lab in labels if lab and lab not in refs]
    bad += [f'{path.name}: @{r} refers to no figure of the notebook' for r in refs - set(labels)]
    return bad


def width_problems(path: Path, nb: dict) -> list:
    bad = []
    for i, src, pngs in figures(nb):
        w = max(png_width(p) for p in pngs)
        if w > MAX_WIDTH and label_of(src) not in WIDE:
            bad.append(f'{path.name} cell {i} ({label_of(src)}): saved figure {w} px wide > {MAX_WIDTH}')
    return bad


def leftover_problems(path: Path, nb: dict) -> list:
    bad = []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            text = json.dumps({k: v for k, v in o.get('data', {}).items() if not k.startswith('image/')}) + json.dumps(
                o.get('text', ''))
            bad += [f'{path.name} cell {i}: {s!r} in a saved output' for s in LEFTOVERS if s in text]
    return bad


NBS_ALL = notebooks()


@pytest.mark.parametrize('check', [caption_problems, reference_problems, width_problems, leftover_problems],
                         ids=lambda f: f.__name__)
def test_figures_and_outputs(check):
    bad = [b for p in NBS_ALL for b in check(p, json.load(open(p)))]
    assert not bad, f'{len(bad)} problems:\n' + '\n'.join(bad)


def test_every_exception_is_used():
    "An entry of WIDE whose figure is gone or has become narrow must be removed."
    wide = {label_of(src) for p in NBS_ALL for _, src, pngs in figures(json.load(open(p)))
            if max(png_width(x) for x in pngs) > MAX_WIDTH}
    assert not set(WIDE) - wide, f'remove from WIDE: {sorted(set(WIDE) - wide)}'


def test_weight():
    sizes = {p.name: p.stat().st_size for p in NBS_ALL}
    big = {k: v for k, v in sizes.items() if v > MAX_NB}
    total = sum(sizes.values())
    print(f'nbs/*.ipynb: {total / 1e6:.2f} MB; largest ' +
          ', '.join(f'{k} {v / 1e6:.2f} MB' for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:3]))
    assert not big and total <= MAX_TOTAL, f'over the limits: total {total:,} B (max {MAX_TOTAL:,}), {big}'


def test_checks_catch_a_bad_notebook():
    "The checks themselves: a figure without caption, label or reference, too wide, with a progress bar."
    png = base64.b64encode(b'\x89PNG\r\n\x1a\n' + b'\0\0\0\rIHDR' + struct.pack('>II', 1400, 300)).decode()
    fig = dict(cell_type='code', source='plt.plot(x)\n', outputs=[dict(data={'image/png': png})])
    bar = dict(cell_type='code', source='x\n', outputs=[dict(name='stderr', text='train: 50%|##   | 2/4 [1.0it/s]')])
    nb = dict(cells=[dict(cell_type='markdown', source='The figure below.'), fig, bar])
    p = Path('05_x.ipynb')
    assert len(caption_problems(p, nb)) == 2 and leftover_problems(p, nb) and width_problems(p, nb)
    fig['source'] = '#| label: fig-05-x\n#| fig-cap: "A line."\nplt.plot(x)\n'
    assert not caption_problems(p, nb) and reference_problems(p, nb)
    nb['cells'][0]['source'] = '@fig-05-x shows a line.'
    assert not reference_problems(p, nb)
    fig['source'] = '#| label: fig-05-x\n#| slow\n#| fig-cap: "A line."\nplt.plot(x)\n'
    assert caption_problems(p, nb)
