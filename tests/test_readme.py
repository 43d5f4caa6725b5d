"""README.md is nbs/index.ipynb's markdown, with the site's relative links made absolute.

Quarto (and so `nbdev_readme`) can't run everywhere, so this test keeps the two in step.
Regenerate with: python tests/test_readme.py
"""
import ast, json, re, configparser
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

def _library_imports(mod: str) -> set[str]:
    "The ddpm_book modules that `mod` imports at its top level (lazy imports inside functions are not counted), less utils."
    tree, found = ast.parse((ROOT/'ddpm_book'/f'{mod}.py').read_text()), set()
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module:
            found.add(n.module.split('.')[0])
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or '').startswith('ddpm_book.'):
            found.add(n.module.split('.')[1])
    return found - {'utils'}

def test_module_map_is_true():
    """The README's module map names every module of the library, and its imports column is what each module imports,
    every import pointing at a row above it (imports run one way)."""
    rows = [re.match(r'\| `(\w+)` \| [^|]+ \| .* \| ([^|]*) \|$', l) for l in (ROOT/'README.md').read_text().splitlines()]
    table = {m.group(1): m.group(2) for m in rows if m}
    mods = sorted(p.stem for p in (ROOT/'ddpm_book').glob('*.py') if not p.stem.startswith('_'))
    assert sorted(table) == mods, f'modules without a row: {set(mods) - set(table)}; rows without a module: {set(table) - set(mods)}'
    order = list(table)
    for mod, col in table.items():
        listed = {x.strip() for x in re.sub(r'\(.*?\)', '', col).split(',')} - {'—', ''}
        assert listed == _library_imports(mod), f'{mod}: the README says it imports {sorted(listed)}, it imports {sorted(_library_imports(mod))}'
        below = [m for m in listed if order.index(m) > order.index(mod)]
        assert not below, f'{mod} imports {below}, which come after it in the module map'

if __name__ == '__main__':
    (ROOT/'README.md').write_text(render_readme()); print('wrote', ROOT/'README.md')
