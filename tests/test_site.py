"""The Quarto site: the sidebar lists every chapter in order under its part, and MathJax renders the math.

Regenerate the sidebar with: python tests/test_site.py
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
PARTS = [(0, 5, 'Part I: the mathematics'), (6, 10, 'Part II: a real model on real data'),
         (11, 14, 'Part III: conditioning and guidance'), (15, 19, 'Part IV: Stable Diffusion, small'),
         (90, 99, 'Appendix')]

def chapters():
    return sorted(p.name for p in NBS.glob('[0-9][0-9]_*.ipynb'))

def render_sidebar() -> str:
    lines = ['website:', '  sidebar:', '    contents:', '      - index.ipynb']
    for lo, hi, title in PARTS:
        nbs = [c for c in chapters() if lo <= int(c[:2]) <= hi]
        if not nbs: continue
        lines += [f'      - section: "{title}"', '        contents:'] + [f'          - {c}' for c in nbs]
    return '\n'.join(lines) + '\n'

def test_sidebar_lists_every_chapter_in_order():
    assert (NBS/'sidebar.yml').read_text() == render_sidebar(), \
        "nbs/sidebar.yml is out of step with the notebooks: run `python tests/test_site.py` and commit it"

def test_quarto_yml():
    top = (ROOT/'_quarto.yml').read_text()
    assert 'html-math-method: mathjax' in top and 'sidebar.yml' in top
    # nbdev_docs renders from nbs/, so nbs/_quarto.yml must be the top-level file (a symlink to it)
    assert (NBS/'_quarto.yml').resolve() == (ROOT/'_quarto.yml').resolve()

if __name__ == '__main__':
    (NBS/'sidebar.yml').write_text(render_sidebar()); print(render_sidebar())
