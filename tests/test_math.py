"""Every LaTeX formula in the notebooks' markdown renders with MathJax, without a TeX error.

Quarto can't run here, so this test does the part of the site build that can break the math: it finds
the formulas the way pandoc's markdown reader does (`$...$` inline, `$$...$$` display, bare
`\\begin{align}...` math environments; skipping code spans, fenced code blocks and escaped `\\$`), then
renders all of them in ONE node process with npm's mathjax-full (tests/mathjax/check_tex.js), with
every package MathJax's tex-chtml-full.js loads except `noerrors`/`noundefined`, so that an undefined
macro or unbalanced braces is an error here instead of red text on the web page.

It also fails on markdown that pandoc would not read as math at all (a stray `$`, an unclosed `$$`,
`\\(`/`\\[` delimiters) and on macro definitions (`\\newcommand`, `\\def`; the book uses standard
LaTeX/AMS macros only).

Needs node >= 18 and npm. node_modules is installed on first use with
`npm ci --no-audit --no-fund --prefix tests/mathjax` (mathjax-full 3.2.2 is pinned in tests/mathjax/package.json
and package-lock.json).
Without node/npm the test is skipped with a message, except under CI (env CI set), where it fails.
Run it alone with: python -m pytest tests/test_math.py -q -rs -s
"""
import json, os, re, shutil, subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import mathjax_modules

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
MJ = Path(__file__).resolve().parent/'mathjax'
CHECKER = MJ/'check_tex.js'

# --------------------------------------------------------------------------------------------------
# Finding the formulas in markdown, following pandoc's tex_math_dollars rules
# --------------------------------------------------------------------------------------------------

@dataclass
class Formula:
    tex: str        # the TeX between the delimiters, trimmed
    display: bool   # $$...$$ or a math environment (True), $...$ (False)
    line: int       # 1-based line in the cell where the formula starts

@dataclass
class Problem:
    line: int
    message: str

MATH_ENVS = ('equation', 'align', 'gather', 'multline', 'flalign', 'alignat', 'eqnarray', 'math', 'displaymath')
_math_env_re = re.compile(r'\\begin\{((?:%s)\*?)\}' % '|'.join(MATH_ENVS))
_fence_re = re.compile(r'^ {0,3}(`{3,}|~{3,})')
_blank_line_re = re.compile(r'\n[ \t]*\n')

def _strip_fences(text: str) -> str:
    "Blank out fenced code blocks (``` or ~~~), keeping line numbers and paragraph breaks."
    out, fence = [], None
    for line in text.split('\n'):
        m = _fence_re.match(line)
        if fence is None:
            if m and not (m.group(1)[0] == '`' and '`' in line[m.end():]):  # ``` fences' info string has no `
                fence = m.group(1)
                out.append(''); continue
            out.append(line)
        else:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end():].strip():
                fence = None
            out.append('')
    return '\n'.join(out)

def _balanced_braces(s: str, i: int):
    "Index just past the `}` matching the `{` at s[i], or None (backslash escapes respected)."
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c == '\\': j += 2; continue
        if c == '{': depth += 1
        elif c == '}':
            depth -= 1
            if depth == 0: return j + 1
        j += 1
    return None

def _inline_math_end(s: str, i: int):
    "pandoc's inline `$...$` starting at s[i] == '$': index of the closing `$`, or None if it is not math."
    n = len(s)
    j = i + 1
    if j >= n or s[j].isspace(): return None            # opening $ must be followed by a non-space
    while j < n:
        c = s[j]
        if c == '$':
            if j + 1 < n and s[j+1].isdigit(): return None  # "$5 and $6" is money, not math
            return j
        if c == '\\':
            if s.startswith('\\text{', j):                    # \text{..} may contain $ (pandoc allows it)
                k = _balanced_braces(s, j + 5)
                if k is None: return None
                j = k; continue
            j += 2; continue
        if c.isspace():
            k = j
            while k < n and s[k].isspace(): k += 1
            if s.count('\n', j, k) >= 2: return None           # a blank line ends the paragraph
            if k < n and s[k] == '$': return None             # closing $ must follow a non-space
            j = k; continue
        j += 1
    return None

def extract_math(text: str):
    "The formulas of one markdown cell, and the places where pandoc would not read the intended math."
    s = _strip_fences(text)
    formulas, problems = [], []
    lineno = lambda k: s.count('\n', 0, k) + 1
    n, i = len(s), 0
    while i < n:
        c = s[i]
        if c == '\\':
            if s.startswith('\\(', i) or s.startswith('\\[', i):
                problems.append(Problem(lineno(i), f'`{s[i:i+2]}` is not a math delimiter in pandoc markdown; '
                                                   'use $...$ (inline) or $$...$$ (display)'))
            m = _math_env_re.match(s, i)
            if m:                                     # bare \begin{align}...\end{align}: pandoc passes it to MathJax
                end = s.find('\\end{%s}' % m.group(1), m.end())
                if end < 0:
                    problems.append(Problem(lineno(i), f'\\begin{{{m.group(1)}}} without \\end{{{m.group(1)}}}'))
                    i = m.end(); continue
                end += len('\\end{%s}' % m.group(1))
                formulas.append(Formula(s[i:end].strip(), True, lineno(i)))
                i = end; continue
            i += 2; continue                          # an escaped character (\$ is a literal dollar)
        if c == '`':
            k = i
            while k < n and s[k] == '`': k += 1
            run = s[i:k]
            m = re.compile(r'(?<!`)%s(?!`)' % re.escape(run)).search(s, k)
            i = m.end() if m else k                   # a code span, or literal backticks if unclosed
            continue
        if c == '$':
            if s.startswith('$$', i):
                end = s.find('$$', i + 2)
                if end < 0:
                    problems.append(Problem(lineno(i), 'a `$$` that is never closed'))
                    i += 2; continue
                body = s[i+2:end]
                if _blank_line_re.search(body):
                    problems.append(Problem(lineno(i), 'a blank line inside $$...$$ (pandoc ends the display '
                                                       'math there): ' + body.strip()[:80]))
                elif not body.strip():
                    problems.append(Problem(lineno(i), 'an empty $$ $$'))
                else:
                    formulas.append(Formula(body.strip(), True, lineno(i)))
                i = end + 2; continue
            end = _inline_math_end(s, i)
            if end is None:
                problems.append(Problem(lineno(i), 'a `$` that pandoc will not read as math (no space may follow '
                    'the opening $ or precede the closing $, and no digit follow it; write \\$ for a dollar sign): '
                    + s[max(0, i-20):i+40].replace('\n', ' ')))
                i += 1; continue
            formulas.append(Formula(s[i+1:end].strip(), False, lineno(i)))
            i = end + 1; continue
        i += 1
    for f in formulas:
        for m in re.finditer(r'\\(newcommand|renewcommand|def|let|DeclareMathOperator)(?![A-Za-z])', f.tex):
            problems.append(Problem(f.line, f'\\{m.group(1)} in a formula: the book uses standard LaTeX/AMS '
                                            f'macros only (write the macro out): {f.tex[:80]}'))
    return formulas, problems

def notebook_math(path: Path):
    "[(cell_index, Formula)], [(cell_index, Problem)] for the markdown cells of one notebook and its front matter's description."
    nb = json.loads(path.read_text(encoding='utf-8'))
    forms, probs = [], []
    for ci, cell in enumerate(nb.get('cells', [])):
        src = cell.get('source', '')
        src = ''.join(src) if isinstance(src, list) else src
        if cell.get('cell_type') == 'raw' and src.lstrip().startswith('---'):     # Quarto front matter: the page's subtitle
            src = str((yaml.safe_load(src.strip().strip('-')) or {}).get('description', ''))
        elif cell.get('cell_type') != 'markdown': continue
        fs, ps = extract_math(src)
        forms += [(ci, f) for f in fs]; probs += [(ci, p) for p in ps]
    return forms, probs

def notebooks():
    return sorted(NBS.glob('*.ipynb'))

# --------------------------------------------------------------------------------------------------
# Rendering with MathJax under node
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope='session')
def mathjax():
    "A function rendering [{'tex', 'display', 'group'}] -> list of {'index', 'message'} TeX errors."
    node = mathjax_modules()['node']

    def render(items):
        r = subprocess.run([node, str(CHECKER)], input=json.dumps(items), capture_output=True, text=True,
                           timeout=300, cwd=MJ)
        assert r.returncode == 0, f'{CHECKER.name} crashed (rc={r.returncode}):\n{r.stderr}'
        out = json.loads(r.stdout)
        assert out['checked'] == len(items), out
        return out['errors']
    return render

# --------------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------------

def test_notebooks_math_renders_with_mathjax(mathjax, report):
    nbs = notebooks()
    assert nbs, f'no notebooks found in {NBS}'
    items, where = [], []
    for nb in nbs:
        forms, _ = notebook_math(nb)
        for ci, f in forms:
            items.append({'tex': f.tex, 'display': f.display, 'group': nb.name})
            where.append((nb.name, ci, f))
    errors = mathjax(items)
    with_math = len({w[0] for w in where})
    report(f'MathJax: checked {len(items)} formulas in {with_math} notebooks ({len(nbs)} notebooks scanned), '
           f'{len(errors)} TeX errors')
    msgs = []
    for e in errors:
        name, ci, f = where[e['index']]
        d = '$$' if f.display else '$'
        msgs.append(f'{name} (markdown cell {ci}, line {f.line}): {e["message"]}\n    {d}{f.tex}{d}')
    assert not errors, f'{len(errors)} formula(s) do not render with MathJax:\n' + '\n'.join(msgs)

def test_notebooks_math_delimiters():
    "Math that pandoc would not read as math (stray $, unclosed $$, \\( \\[) or that defines macros."
    msgs, nbs = [], notebooks()
    for nb in nbs:
        _, probs = notebook_math(nb)
        msgs += [f'{nb.name} (markdown cell {ci}, line {p.line}): {p.message}' for ci, p in probs]
    assert not msgs, f'{len(msgs)} math markup problem(s):\n' + '\n'.join(msgs)

BAD = [r'\foo', r'{a', r'a}', r'\frac{1}{2', r'\left( x', r'x^^2', r'\begin{align} a \end{aligned}', r'a & b',
       r'\mathbb{E}_{q(x_{1:T}|x_0)']
GOOD = [r'x^2', r'\mathbb{E}_{q(x_{1:T}\mid x_0)}\left[\log\frac{p(x_{0:T})}{q(x_{1:T}\mid x_0)}\right]',
        r'\begin{aligned} a &= b \\ c &= d \end{aligned}', r'\begin{align} a &= b \end{align}',
        r'\boldsymbol{\epsilon}_\theta', r'\bar\alpha_t', r'\operatorname{KL}', r'\mathcal{N}(0, \mathbf{I})',
        r'\begin{cases} 1 & t = 1 \\ 0 & \text{otherwise} \end{cases}', r'\tfrac12', r'\sigma_q^2(t)']

def test_checker_flags_bad_tex(mathjax):
    "The check can fail: undefined macros and unbalanced braces are errors; standard LaTeX/AMS is not."
    items = [{'tex': t, 'display': True, 'group': 'bad'} for t in BAD] + \
            [{'tex': t, 'display': d, 'group': 'good'} for t in GOOD for d in (False, True)]
    errors = {e['index']: e['message'] for e in mathjax(items)}
    missed = [t for k, t in enumerate(BAD) if k not in errors]
    assert not missed, f'the checker accepted bad TeX: {missed}'
    assert 'Undefined control sequence' in errors[0], errors[0]
    wrong = {items[k]['tex']: m for k, m in errors.items() if k >= len(BAD)}
    assert not wrong, f'the checker rejected good TeX: {wrong}'

def test_extract_math():
    md = ('Inline $\\alpha_t$ and money \\$5, code `$not math$` and ``a `$x$` b``.\n'
          '```python\nx = "$\\foo$"\n```\n'
          '~~~\n$$\\bar$$\n~~~\n'
          'Display\n$$\n\\begin{aligned}\nq(x_t) &= 1 \\\\\n&= 2\n\\end{aligned}\n$$\n'
          'and $\\text{if $t$ odd}$, $x \\$ y$, $a$$b$ then\n'
          '\\begin{align} c \\end{align}')
    fs, ps = extract_math(md)
    assert [(f.tex, f.display) for f in fs] == [
        ('\\alpha_t', False),
        ('\\begin{aligned}\nq(x_t) &= 1 \\\\\n&= 2\n\\end{aligned}', True),
        ('\\text{if $t$ odd}', False), ('x \\$ y', False), ('a', False), ('b', False),
        ('\\begin{align} c \\end{align}', True)], fs
    assert fs[1].line == 9 and not ps, (fs, ps)
    # what pandoc would not read as math, and macro definitions, are reported
    for bad in ['costs $5 or $6', '$ x$', '$x $', '$$x', 'see \\(x\\)', '\\[x\\]', '$a\n\nb$',
                '$$a\n\nb$$', '$\\newcommand{\\R}{\\mathbb{R}}\\R$', '\\begin{equation} x']:
        assert extract_math(bad)[1], f'not reported: {bad!r}'
    assert extract_math('a \\$5 and \\$6 fee')[1] == []
    assert extract_math('$a\nb$')[0][0].tex == 'a\nb'

if __name__ == '__main__':   # list what would be checked
    for nb in notebooks():
        forms, probs = notebook_math(nb)
        print(f'{nb.name}: {len(forms)} formulas, {len(probs)} problems')
        for ci, f in forms: print(f'  cell {ci} line {f.line}:', ('$$' if f.display else '$') + f.tex.replace('\n', ' '))
        for ci, p in probs: print(f'  PROBLEM cell {ci} line {p.line}:', p.message)
