"""README.md is nbs/index.ipynb's markdown, with the site's relative links made absolute.

Quarto (and so `nbdev_readme`) can't run everywhere, so this test keeps the two in step.
Regenerate with: python tests/test_readme.py
"""
import json, re, configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render_readme() -> str:
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    site = cfg['DEFAULT']['doc_host'].rstrip('/') + cfg['DEFAULT']['doc_baseurl'].rstrip('/') + '/'
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    cells = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown']
    text = '\n\n'.join(cells).strip() + '\n'
    return re.sub(r'\]\(([\w\-]+\.html)\)', lambda m: f']({site}{m.group(1)})', text)

def test_readme_in_step_with_index():
    assert (ROOT/'README.md').read_text() == render_readme(), \
        "README.md is out of step with nbs/index.ipynb: run `python tests/test_readme.py` and commit README.md"

if __name__ == '__main__':
    (ROOT/'README.md').write_text(render_readme()); print('wrote', ROOT/'README.md')
