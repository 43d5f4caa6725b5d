"""The Quarto site: the sidebar lists every chapter in order, `nbdev_docs` re-runs no computation, and the built site
reads well in a real browser.

The browser test builds the site with `nbdev_docs` (in a copy of the repository, so the checkout is untouched), serves
it on 127.0.0.1, and opens every page of the sidebar in headless Chromium at 1280 px and at 390 px (a phone). On each
page: it loads; every formula is typeset by MathJax (served from the npm copy that the math test installs, since the
site loads it from a CDN) with no error and no raw TeX left; every image loads; nothing in the main column is wider than
the column or makes the page scroll sideways (long equations, code and outputs scroll inside their own boxes); no
temporary folder of the machine that ran the notebooks is shown; the body font names a CJK face, and the lecture's
Chinese terms are drawn with one (glyphs, not boxes: Debian's fonts-noto-cjk); a sample of the numbers in the
notebook's saved outputs is on the page (the site shows the book's full-size runs, not reruns); every citation
resolves (no Quarto citeproc warning, no `?@key`) to an entry of the page's references with its arXiv link; the page
links its notebook on GitHub and in Colab (built from settings.ini's git_url); no word in a table cell is broken
across lines; every "chapter N" is a link to a page of the site, no link leads nowhere, and no link goes to the
published site instead of this one; each page has previous/next links; no inline formula is cut; no docstring
shows raw markup.

Needs Quarto (>= 1.4) on PATH, Chromium (`apt-get install chromium`, or set CHROMIUM to a Chrome/Chromium binary),
Playwright (`pip install playwright`; its own browser download is not needed) and node/npm for MathJax. Without them the
browser test is skipped with a message, except under CI (env CI set), where `.ci/run` installs them and a missing one
fails. Regenerate the sidebar with: python tests/test_site.py
"""
import ast, functools, http.server, json, os, re, shutil, subprocess, threading, time
from pathlib import Path

import pytest
from conftest import missing, mathjax_modules

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
PARTS = [(0, 5, 'Part I: the mathematics'), (6, 10, 'Part II: a real model on real data'),
         (11, 14, 'Part III: conditioning and guidance'), (15, 19, 'Part IV: Stable Diffusion, small'),
         (90, 99, 'Appendix')]
WIDTHS = {'desktop': (1280, 900), 'phone': (390, 844)}
CDN = 'https://cdn.jsdelivr.net/npm/mathjax@3/es5/'
NUMBERS_PER_PAGE = 8
CJK_FACES = ('Noto Sans CJK', 'Source Han Sans', 'PingFang', 'Hiragino Sans GB', 'Microsoft YaHei', 'WenQuanYi')

def chapters():
    return sorted(p.name for p in NBS.glob('[0-9][0-9]*_*.ipynb'))

def render_sidebar() -> str:
    lines = ['website:', '  sidebar:', '    contents:', '      - index.ipynb']
    for lo, hi, title in PARTS:
        nbs = [c for c in chapters() if lo <= int(c[:2]) <= hi]
        if not nbs: continue
        lines += [f'      - section: "{title}"', '        contents:'] + [f'          - {c}' for c in nbs]
    return '\n'.join(lines) + '\n'

def sidebar_notebooks() -> list:
    return ['index.ipynb'] + [c for lo, hi, _ in PARTS for c in chapters() if lo <= int(c[:2]) <= hi]

def test_sidebar_lists_every_chapter_in_order():
    assert (NBS/'sidebar.yml').read_text() == render_sidebar(), \
        "nbs/sidebar.yml is out of step with the notebooks: run `python tests/test_site.py` and commit it"

def _setting(key: str) -> str:
    return re.search(rf'^{key}\s*=\s*(.+)$', (ROOT/'settings.ini').read_text(), re.M).group(1).strip()

SITE_URL = _setting('doc_host') + _setting('doc_baseurl') + '/'

def test_links_filter_names_the_site():
    "nbs/relative_links.lua makes nbdev's links to the published site relative: its address must be settings.ini's."
    assert f"local base = '{SITE_URL}'" in (NBS/'relative_links.lua').read_text()
    assert 'relative_links.lua' in (ROOT/'_quarto.yml').read_text()

def test_quarto_yml():
    top = (ROOT/'_quarto.yml').read_text()
    assert 'html-math-method: mathjax' in top and 'sidebar.yml' in top and 'styles.css' in top
    # nbdev_docs renders from nbs/, so nbs/_quarto.yml must be the top-level file (a symlink to it)
    assert (NBS/'_quarto.yml').resolve() == (ROOT/'_quarto.yml').resolve()

# --------------------------------------------------------------------------------------------------
# The rule that keeps the site's outputs the book's own: nbdev_docs runs no computation
# --------------------------------------------------------------------------------------------------

def _directives(source: str) -> dict:
    "The `#| key: value` lines of a cell (nbdev's cell directives)."
    out = {}
    for line in source.split('\n'):
        m = re.match(r'^\s*#\|\s*([\w-]+):?\s*(.*)$', line)
        if m: out[m.group(1)] = m.group(2).strip()
    return out

def cells_docs_would_run(path: Path) -> list:
    "(index, source with its directives) of the code cells that `nbdev_docs` executes to render show_doc, as nbdev selects them."
    from nbdev.process import NBProcessor
    from nbdev.processors import _do_eval
    cells = json.loads(path.read_text())['cells']
    return [(c.idx_, ''.join(cells[c.idx_]['source'])) for c in NBProcessor(path, procs=[]).nb.cells
            if c.cell_type == 'code' and _do_eval(c)]

def harmless(source: str) -> bool:
    "Exported code, imports and show_doc calls: what nbdev may re-run without changing what the book shows."
    if {'export', 'exports', 'exporti'} & _directives(source).keys(): return True
    tree = ast.parse('\n'.join(l for l in source.split('\n') if not l.lstrip().startswith('%')))
    def ok(s):
        if isinstance(s, (ast.Import, ast.ImportFrom)): return True
        return isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and getattr(s.value.func, 'id', '') == 'show_doc'
    return all(ok(s) for s in tree.body)

def test_docs_rerun_no_computation():
    """nbdev_docs re-runs every cell with an import (so that show_doc can render): such a cell must hold only imports.

    Otherwise the site shows a small rerun instead of the saved output, or the build stops on a name defined in a cell
    nbdev does not run. Put imports in a hidden import cell (`#| hide`) above the code that uses them."""
    bad = [f'{p.name}, cell {i}:\n    ' + src.replace('\n', '\n    ')[:400]
           for p in sorted(NBS.glob('*.ipynb')) for i, src in cells_docs_would_run(p) if not harmless(src)]
    assert not bad, (f'{len(bad)} cell(s) mix imports with other code, so nbdev_docs would re-run them; move their imports '
                     'into a hidden import cell (`#| hide`) above them:\n' + '\n'.join(bad))

def test_import_cells_are_hidden():
    "A cell of imports is plumbing: the site hides it (`#| hide`), so a chapter reads as formulas, code and checks."
    shown = []
    for p in sorted(NBS.glob('*.ipynb')):
        for i, c in enumerate(json.loads(p.read_text())['cells']):
            src = ''.join(c['source']); d = _directives(src)
            if c['cell_type'] != 'code' or {'hide', 'export', 'exports', 'exporti'} & d.keys() or d.get('include') == 'false': continue
            body = [s for s in ast.parse('\n'.join(l for l in src.split('\n') if not l.lstrip().startswith('%'))).body]
            if body and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in body): shown.append(f'{p.name}, cell {i}: {src[:80]!r}')
    assert not shown, 'import cells shown on the site; add `#| hide` to them:\n' + '\n'.join(shown)

def test_rule_catches_a_mixed_cell():
    assert harmless('import math\nfrom torch import nn') and harmless("show_doc(f)\nshow_doc(g)")
    assert harmless('#| export\nimport math\nX = math.pi')
    assert not harmless('import math\nx = math.sqrt(2)') and not harmless('from a import b\nprint(b)')

# --------------------------------------------------------------------------------------------------
# Numbers the site must show: a sample of each notebook's saved text outputs
# --------------------------------------------------------------------------------------------------

_number_re = re.compile(r'(?<![\w.])-?\d+\.\d{2,}(?![\w.])')

def saved_numbers(path: Path, k: int = NUMBERS_PER_PAGE) -> list:
    "Up to k decimal numbers spread over the visible text outputs saved in the notebook."
    nb, found = json.loads(path.read_text()), []
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source']); d = _directives(src)
        if 'hide' in d or d.get('include') == 'false' or d.get('output') == 'false' or 'show_doc' in src: continue
        for o in c.get('outputs', []):
            if o['output_type'] == 'stream': text = ''.join(o['text'])
            elif o['output_type'] in ('execute_result', 'display_data') and set(o['data']) <= {'text/plain', 'image/png'}:
                text = ''.join(o['data'].get('text/plain', ''))
            else: continue
            found += [n for n in _number_re.findall(text) if n not in found]
    if len(found) <= k: return found
    return [found[round(i * (len(found) - 1) / (k - 1))] for i in range(k)]

def test_saved_numbers_sampling():
    nb = {'cells': [{'cell_type': 'code', 'source': ['print(x)'], 'outputs': [{'output_type': 'stream', 'text': ['FID 0.2427, KID -0.01497 at t=1000 v1.5\n']}]},
                    {'cell_type': 'code', 'source': ['#| hide\nprint(y)'], 'outputs': [{'output_type': 'stream', 'text': ['9.876']}]}]}
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)/'nb.ipynb'; p.write_text(json.dumps(nb))
        assert saved_numbers(p) == ['0.2427', '-0.01497']

# --------------------------------------------------------------------------------------------------
# References: the prose cites the papers as [@key] (Quarto citations) from nbs/references.bib
# --------------------------------------------------------------------------------------------------

BIB = NBS/'references.bib'
_cite_re = re.compile(r'(?<![\w.@])-?@([A-Za-z][\w:-]*\d{4}[a-z]*)\b')
_author_year_re = re.compile(r"\b[A-Z][\w\u00C0-\u024F-]+(?: et al\.| (?:&|and) [A-Z][\w-]+)(?:'s)?,? \(?(?:19|20)\d\d[a-z]?\b")

def bib_entries() -> dict:
    "{key: text of the entry} of nbs/references.bib."
    text = BIB.read_text(encoding='utf-8')
    parts = re.split(r'^@\w+\{', text, flags=re.M)[1:]
    return {p.split(',', 1)[0].strip(): p for p in parts}

def _prose(path: Path) -> list:
    "The markdown cells of a notebook, code spans and fenced code removed."
    cells = [''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'markdown']
    return [re.sub(r'`[^`]*`', '', re.sub(r'```.*?```', '', c, flags=re.S)) for c in cells]

def cited_keys(path: Path) -> list:
    "The citation keys a notebook's markdown cells cite, in order of first use."
    return list(dict.fromkeys(k for c in _prose(path) for k in _cite_re.findall(c)))

def test_citations_resolve_to_the_bibliography():
    """Every [@key] the prose cites is in nbs/references.bib with its link (arXiv, or a DOI for a paper not on arXiv),
    every entry of the bibliography is cited somewhere, the papers the book relies on are there, and no paper is
    named by author and year alone (cite it instead; the index, which is also the README that GitHub shows without
    Quarto, links the paper instead: [Ho, Jain & Abbeel, 2020](https://arxiv.org/abs/...))."""
    assert BIB.is_file(), 'no nbs/references.bib: the book names papers but has no bibliography'
    assert re.search(r'^bibliography:\s*references\.bib\s*$', (ROOT/'_quarto.yml').read_text(), re.M), \
        '_quarto.yml does not name the bibliography (bibliography: references.bib)'
    bib, problems, used = bib_entries(), [], set()
    for k, e in bib.items():
        url = re.search(r'\burl\s*=\s*\{([^}]*)\}', e)
        if not url or not re.match(r'https://(arxiv\.org/abs/\d{4}\.\d{4,5}|doi\.org/10\.)', url.group(1)):
            problems.append(f'references.bib: {k} has no arXiv (or DOI) url')
    for p in sorted(NBS.glob('*.ipynb')) + sorted(NBS.glob('modules/*.ipynb')):
        for k in cited_keys(p):
            used.add(k)
            if k not in bib: problems.append(f'{p.name} cites @{k}, which is not in references.bib')
        for c in _prose(p):
            problems += [f'{p.name}: "{m.group(0)}" names a paper by author and year: cite it as [@key]'
                         for m in _author_year_re.finditer(re.sub(r'\[[^\]]*\]\(https://[^)]*\)', '', c))]
    problems += [f'references.bib: {k} is cited nowhere' for k in sorted(set(bib) - used)]
    need = {'ho2020', 'sohldickstein2015', 'song2019', 'song2021ddim', 'song2021sde', 'nichol2021', 'dhariwal2021',
            'ho2022cfg', 'lu2022b', 'kingma2014', 'radford2021', 'rombach2022', 'vaswani2017', 'ronneberger2015'}
    problems += [f'references.bib lacks {k}' for k in sorted(need - set(bib))]
    assert not problems, f'{len(problems)} problem(s) with the references:\n' + '\n'.join(problems[:40])

def test_citation_rules_catch_mistakes():
    assert _cite_re.findall('as @ho2020 show [@lu2022b; @song2021sde, eq. 5]; mail a@b2020.org') == ['ho2020', 'lu2022b', 'song2021sde']
    assert _author_year_re.search('Ho et al. (2020) use') and _author_year_re.search('(Nichol & Dhariwal 2021)')
    assert _author_year_re.search('(Bińkowski et al. 2018)') and not _author_year_re.search('in 2020 the paper')

# --------------------------------------------------------------------------------------------------
# Building the site and opening it in Chromium
# --------------------------------------------------------------------------------------------------

def _chromium():
    exe = os.environ.get('CHROMIUM') or next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome')
                                              if shutil.which(n)), None)
    if exe is None:
        missing('The site test needs Chromium: `apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM to a '
                'Chrome or Chromium binary.')
    try: import playwright.sync_api  # noqa: F401
    except ImportError: missing('The site test drives Chromium with Playwright: `pip install playwright` (it needs no browser download).')
    return exe

@pytest.fixture(scope='module')
def site(tmp_path_factory, report):
    "The site built by nbdev_docs from a copy of the repository: (folder of the HTML, build seconds)."
    quarto = shutil.which('quarto')
    if quarto is None:
        missing('The site test needs Quarto on PATH: install it from https://quarto.org/docs/get-started/ '
                '(here: `export PATH="$(dirname "$(../shared/tools/quarto/setup.sh)"):$PATH"`).')
    if shutil.which('nbdev_docs') is None: missing('nbdev_docs is not on PATH: `pip install -e ".[dev]"`.')
    src = tmp_path_factory.mktemp('site')/'repo'
    skip = shutil.ignore_patterns('runs', '_scratch', '_docs', '_proc', '.ipynb_checkpoints', '__pycache__', '*.egg-info')
    src.mkdir()
    for name in ('settings.ini', '_quarto.yml', 'README.md', 'setup.py', 'LICENSE'):
        if (ROOT/name).exists(): shutil.copy2(ROOT/name, src/name)
    for name in ('nbs', 'ddpm_book'): shutil.copytree(ROOT/name, src/name, symlinks=True, ignore=skip)
    t0 = time.time()
    r = subprocess.run(['nbdev_docs'], cwd=src, capture_output=True, text=True, timeout=1200)
    secs = time.time() - t0
    (src/'nbdev_docs.log').write_text(r.stdout + '\n' + r.stderr)     # test_site_in_a_browser reads Quarto's warnings
    assert r.returncode == 0, f'nbdev_docs failed (rc={r.returncode}) after {secs:.0f} s:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    assert (src/'_docs'/'index.html').exists(), 'nbdev_docs wrote no _docs/index.html'
    report(f'site: nbdev_docs built {len(list((src/"_docs").glob("*.html")))} pages in {secs:.0f} s')
    return src/'_docs'

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def _serve(folder: Path):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_port}/'

CJK = re.compile('[\u3400-\u9fff]')

def _cjk_fonts(ctx, page) -> list:
    """The fonts Chromium drew each run of Chinese text with: [(text, [family, ...])]. A face without the glyphs draws
    boxes, and the DevTools protocol names the faces that drew them (CSS.getPlatformFontsForNode)."""
    n = page.evaluate("""() => { let k = 0;
        for (const el of document.querySelectorAll('main p, main li, main td, main h1, main h2, main h3, main .description'))
          if (/[\\u3400-\\u9fff]/.test([...el.childNodes].filter(c => c.nodeType === 3).map(c => c.data).join('')))
            { el.dataset.cjk = k++; }
        return k; }""")
    if not n: return []
    cdp = ctx.new_cdp_session(page)
    try:
        cdp.send('DOM.enable'); cdp.send('CSS.enable')
        root = cdp.send('DOM.getDocument', {'depth': 0})['root']['nodeId']
        out = []
        for node in cdp.send('DOM.querySelectorAll', {'nodeId': root, 'selector': '[data-cjk]'})['nodeIds'][:20]:
            fonts = cdp.send('CSS.getPlatformFontsForNode', {'nodeId': node})['fonts']
            html = cdp.send('DOM.getOuterHTML', {'nodeId': node})['outerHTML']
            out.append((''.join(CJK.findall(html))[:12], [f['familyName'] for f in fonts if f['glyphCount'] > 0]))
        return out
    finally: cdp.detach()

def _browse(site: Path, es5: Path, exe: str):
    "Open every sidebar page at both widths: {(width name, href): check results}, and the sidebar's hrefs."
    from playwright.sync_api import sync_playwright
    check_js = (Path(__file__).parent/'site_check.js').read_text()
    srv, base = _serve(site)
    def route(r):
        u = r.request.url
        if u.startswith(base): return r.continue_()
        if u.startswith(CDN):                                   # MathJax from the local npm copy
            f = es5/u[len(CDN):].split('?')[0]
            if f.is_file(): return r.fulfill(path=str(f))
        return r.abort()                                        # nothing else leaves the machine
    results = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=['--no-sandbox'])
            try:
                for wname, (w, h) in WIDTHS.items():
                    ctx = browser.new_context(viewport={'width': w, 'height': h}); ctx.route('**/*', route)
                    page = ctx.new_page()
                    page.goto(base + 'index.html', wait_until='load')
                    links = page.eval_on_selector_all('#quarto-sidebar a.sidebar-link[href]', 'as => as.map(a => a.href)')
                    hrefs = [u.split('#')[0][len(base):] or 'index.html' for u in links if u.startswith(base)]
                    hrefs = list(dict.fromkeys(hrefs))
                    for href in hrefs:
                        resp = page.goto(base + href, wait_until='load')
                        if page.evaluate('document.querySelector("span.math") !== null'):
                            page.wait_for_function('window.MathJax && MathJax.startup && MathJax.startup.promise', timeout=30000)
                            page.evaluate('MathJax.startup.promise')
                        page.wait_for_function('document.documentElement.dataset.mathLayout === "done"', timeout=30000)
                        res = page.evaluate(check_js)
                        res['status'] = resp.status if resp else None
                        if wname == 'desktop': res['cjkFonts'] = _cjk_fonts(ctx, page)
                        results[(wname, href)] = res
                    ctx.close()
            finally: browser.close()
    finally: srv.shutdown()
    return results, hrefs

def test_search_index_has_no_tex(site, report):
    "The search box shows each formula as text (nbs/search_text.py rewrites search.json after rendering), not TeX."
    entries = json.loads((site/'search.json').read_text())
    text = ' '.join(e.get('text', '') for e in entries)
    tex = re.findall(r'\\[(\[].{0,30}', text)  # a formula's delimiters (TeX inside code cells is code)
    report(f'site: search index of {len(entries)} entries, {len(tex)} pieces of TeX left')
    assert 'ᾱ' in text and not tex, f'{len(tex)} pieces of TeX in search.json, e.g. {tex[:5]}'

def test_site_in_a_browser(site, report):
    exe = _chromium()
    es5 = mathjax_modules()['es5']
    t0 = time.time()
    results, hrefs = _browse(site, es5, exe)
    secs = time.time() - t0
    nbs = sidebar_notebooks()
    assert len(hrefs) == len(nbs), f'the sidebar links {len(hrefs)} pages, but nbs/sidebar.yml lists {len(nbs)} notebooks: {hrefs}'
    html_of = {nb: h for nb, h in zip(nbs, hrefs)}
    problems = []
    for (wname, href), r in results.items():
        where = f'{href} at {WIDTHS[wname][0]} px'
        if r['status'] != 200: problems.append(f'{where}: HTTP {r["status"]}'); continue
        if r['mathErrors']: problems.append(f'{where}: {r["mathErrors"]} MathJax errors')
        if r['untypeset']: problems.append(f'{where}: {len(r["untypeset"])} formulas not typeset, e.g. {r["untypeset"][:2]}')
        if r['rawTex']: problems.append(f'{where}: raw TeX in the text: {r["rawTex"]}')
        if r['rawDoc']: problems.append(f'{where}: raw markup (a docstring?) in the text: {r["rawDoc"]}')
        if r['brokenImages']: problems.append(f'{where}: images that do not load: {r["brokenImages"]}')
        if r['pageWidth'] > r['windowWidth']:
            problems.append(f'{where}: the page scrolls sideways ({r["pageWidth"]} px wide in a {r["windowWidth"]} px window)')
        problems += [f'{where}: wider than the column: {o}' for o in r['overflow'][:5]]
        if wname == 'desktop': problems += [f'{where}: a code block scrolls sideways: {o}' for o in r['codeScroll'][:5]]
        if wname == 'desktop': problems += [f'{where}: an output scrolls sideways (not a wide table): {o}' for o in r['outputScroll'][:5]]
        if '/tmp/' in r['text']: problems.append(f'{where}: shows a temporary path: ...{r["text"][r["text"].index("/tmp/") - 60:][:160]}...')
        if not any(f in r['bodyFont'] for f in CJK_FACES): problems.append(f'{where}: the body font names no CJK face: {r["bodyFont"]}')
        problems += [f'{where}: an inline formula is cut (scrolls inside its line): {m}' for m in r['clippedInline'][:5]]
        if wname == 'desktop':
            problems += [f'{where}: "chapter N" without a link: ...{t}...' for t in r['unlinked'][:5]]
            for h in r['relLinks']:
                path = h.split('#')[0].split('?')[0]
                if path and not (site/href).parent.joinpath(path).resolve().is_file():
                    problems.append(f'{where}: the link {h} leads to no page of the site')
            own = [h for h in r['absLinks'] if h.startswith(SITE_URL)]
            if own: problems.append(f'{where}: {len(own)} links to the published site instead of this one, e.g. {own[0]}')
            if not r['prevNext'] and href != 'index.html': problems.append(f'{where}: no previous/next links at the foot')
        for text, fonts in r.get('cjkFonts', []):
            if not any(f in face for face in fonts for f in CJK_FACES):
                problems.append(f'{where}: the Chinese text {text!r} was drawn without a CJK face (boxes), with {fonts}')
    # references: Quarto warns of a citation it cannot resolve; each page lists what it cites, each entry with its link
    log = (site.parent/'nbdev_docs.log').read_text() if (site.parent/'nbdev_docs.log').exists() else ''
    problems += [f'nbdev_docs: {l.strip()}' for l in log.splitlines() if re.search(r'WARN.*(citation|[Cc]iteproc)', l)][:10]
    cites = refs_listed = 0
    for nb, href in html_of.items():
        for wname in WIDTHS:
            r = results[(wname, href)]
            if r['unresolvedCites']: problems.append(f'{href} at {WIDTHS[wname][0]} px: unresolved citations {r["unresolvedCites"]}')
        r = results[('desktop', href)]
        ids = {e['id'] for e in r['refs']}
        cites += len(r['citeLinks']); refs_listed += len(r['refs'])
        for k in cited_keys(NBS/nb):
            if f'ref-{k}' not in ids: problems.append(f'{href}: cites @{k} but its references do not list it')
        problems += [f'{href}: the citation link {a} points at no entry of the references' for a in r['citeLinks']
                     if a.split('#')[-1] not in ids]
        problems += [f'{href}: the reference {e["text"]!r} has no link to the paper' for e in r['refs']
                     if not any(re.match(r'https://(arxiv\.org/abs/|doi\.org/)', l) for l in e['links'])]
    # each chapter page links its notebook on GitHub and in Colab, both built from settings.ini's git_url
    git_url, branch = _setting('git_url').rstrip('/'), _setting('branch')
    for nb, href in html_of.items():
        want = f'{git_url}/blob/{branch}/nbs/{nb}'
        colab = 'https://colab.research.google.com/github/' + want.split('https://github.com/', 1)[-1]
        for wname in WIDTHS:
            r, where = results[(wname, href)], f'{href} at {WIDTHS[wname][0]} px'
            if r['notebookSource'] != want: problems.append(f'{where}: the source-notebook link is {r["notebookSource"]}, not {want}')
            if r['colab'] != colab: problems.append(f'{where}: the Colab badge links {r["colab"]}, not {colab}')
    # table cells: no word broken inside (the index's module table broke `schedule` letter by letter)
    for (wname, href), r in results.items():
        problems += [f'{href} at {WIDTHS[wname][0]} px: a word broken inside a table cell: {w}' for w in r['brokenWords'][:5]]
    checked_numbers = 0
    for nb, href in html_of.items():
        text = results[('desktop', href)]['text']
        for n in saved_numbers(NBS/nb):
            checked_numbers += 1
            if not re.search(r'(?<![\w.])' + re.escape(n) + r'(?![\w.])', text):
                problems.append(f'{href}: the saved output {n} of {nb} is not on the page (did the build re-run the cell?)')
    desk = [r for (w, _), r in results.items() if w == 'desktop']
    report(f'site: {len(hrefs)} pages x {len(WIDTHS)} widths in Chromium in {secs:.0f} s: {sum(r["formulas"] for r in desk)} formulas, '
           f'{sum(r["images"] for r in desk)} images, {checked_numbers} saved numbers found on their pages, '
           f'{sum(len(r.get("cjkFonts", [])) for r in desk)} runs of Chinese text drawn with a CJK face, '
           f'{sum(len(r["overflow"]) for r in results.values())} boxes wider than the column, '
           f'{sum(r["codeBlocks"] for r in desk)} code blocks of which {sum(len(r["codeScroll"]) for r in desk)} scroll sideways, '
           f'{sum(len(r["outputScroll"]) for r in desk)} outputs that scroll sideways and are not wide tables '
           f'at 1280 px, {cites} citations and {refs_listed} references listed (desktop), '
           f'{sum(r["tableWords"] for r in results.values())} table words of which '
           f'{sum(len(r["brokenWords"]) for r in results.values())} broken, {len(problems)} problems')
    assert not problems, f'{len(problems)} problem(s) in the built site:\n' + '\n'.join(problems[:60])

if __name__ == '__main__':
    (NBS/'sidebar.yml').write_text(render_sidebar()); print(render_sidebar())
