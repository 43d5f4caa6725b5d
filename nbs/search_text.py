"""Quarto post-render step: the site's search index (search.json) holds each page's text with its
formulas as TeX source (`\\(\\mathbf{x}_t\\)`), and the search box shows that source in its
results. This rewrites each formula as plain text a reader can scan (x_t, ᾱ_t, √(1 − ᾱ_t)); the
pages themselves are untouched."""

import json, os, re
from pathlib import Path

SYMBOLS = {
    'alpha': 'α',
    'beta': 'β',
    'gamma': 'γ',
    'delta': 'δ',
    'epsilon': 'ε',
    'varepsilon': 'ε',
    'zeta': 'ζ',
    'eta': 'η',
    'theta': 'θ',
    'kappa': 'κ',
    'lambda': 'λ',
    'mu': 'μ',
    'nu': 'ν',
    'xi': 'ξ',
    'pi': 'π',
    'rho': 'ρ',
    'sigma': 'σ',
    'tau': 'τ',
    'phi': 'φ',
    'varphi': 'φ',
    'chi': 'χ',
    'psi': 'ψ',
    'omega': 'ω',
    'Gamma': 'Γ',
    'Delta': 'Δ',
    'Theta': 'Θ',
    'Lambda': 'Λ',
    'Sigma': 'Σ',
    'Phi': 'Φ',
    'Psi': 'Ψ',
    'Omega': 'Ω',
    'nabla': '∇',
    'partial': '∂',
    'infty': '∞',
    'sum': 'Σ',
    'prod': 'Π',
    'int': '∫',
    'mid': '|',
    'cdot': '·',
    'times': '×',
    'le': '≤',
    'leq': '≤',
    'ge': '≥',
    'geq': '≥',
    'ne': '≠',
    'neq': '≠',
    'approx': '≈',
    'sim': '~',
    'propto': '∝',
    'in': '∈',
    'to': '→',
    'rightarrow': '→',
    'leftarrow': '←',
    'mapsto': '↦',
    'top': '⊤',
    'pm': '±',
    'ldots': '…',
    'dots': '…',
    'cdots': '⋯',
    'quad': ' ',
    'qquad': ' ',
    'log': 'log',
    'exp': 'exp',
    'min': 'min',
    'max': 'max',
    'det': 'det',
    'tr': 'tr',
    'Vert': '‖',
    '|': '‖',
    ',': ' ',
    ';': ' ',
    '!': '',
    ' ': ' ',
    'lVert': '‖',
    'rVert': '‖',
    'langle': '⟨',
    'rangle': '⟩',
    'equiv': '≡',
    'forall': '∀',
    'ell': 'ℓ',
    'circ': '∘',
    'odot': '⊙',
    'star': '*',
    'prime': '′',
    'lbrace': '{',
    'rbrace': '}',
}
ACCENTS = {
    'bar': '\u0304',
    'hat': '\u0302',
    'tilde': '\u0303',
    'dot': '\u0307',
    'overline': '\u0304',
}
FONTS = (
    'mathbf',
    'boldsymbol',
    'mathrm',
    'mathcal',
    'mathbb',
    'text',
    'operatorname',
    'mathit',
    'bm',
    'textrm',
)  # commands whose argument is the text
DROP = FONTS + (
    'left',
    'right',
    'big',
    'Big',
    'bigg',
    'Bigg',
    'displaystyle',
    'tfrac',
    'dfrac',
    'frac',
    'sqrt',
)


def _group(s: str, i: int) -> tuple[str, int]:
    "The argument at s[i], a {group} or one character or command: (its text, the index after it)."
    while i < len(s) and s[i] == ' ':
        i += 1
    if i >= len(s):
        return '', i
    if s[i] == '{':
        depth, j = 0, i
        while j < len(s):
            depth += {'{': 1, '}': -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1 : j], j + 1
            j += 1
        return s[i + 1 :], len(s)
    if s[i] == '\\':
        m = re.match(r'\\([A-Za-z]+|.)', s[i:], re.S)
        return (m.group(0), i + len(m.group(0))) if m else ('', len(s))
    return s[i], i + 1


def tex_text(tex: str) -> str:
    "A TeX formula as plain text: symbols in Unicode, fractions as a/b, roots as √(...)."
    out, i = [], 0
    while i < len(tex):
        c = tex[i]
        if c == '\\':
            m = re.match(r'\\([A-Za-z]+|.)', tex[i:], re.S)
            if m is None:  # a lone backslash at the end
                break
            name, i = m.group(1), i + len(m.group(0))
            if name in ('frac', 'tfrac', 'dfrac'):
                a, i = _group(tex, i)
                b, i = _group(tex, i)
                a, b = tex_text(a), tex_text(b)
                out.append(
                    f"{a if len(a) < 2 else '(' + a + ')'}/{b if len(b) < 2 else '(' + b + ')'}"
                )
            elif name == 'sqrt':
                a, i = _group(tex, i)
                out.append(f'√({tex_text(a)})' if len(tex_text(a)) > 1 else f'√{tex_text(a)}')
            elif name in ACCENTS:
                a, i = _group(tex, i)
                a = tex_text(a)
                out.append(a + ACCENTS[name] if len(a) == 1 else a)
            elif name in FONTS:
                a, i = _group(tex, i)
                out.append(tex_text(a))
            elif name in ('begin', 'end'):
                _, i = _group(tex, i)  # \begin{cases}: the environment's name goes
            elif name == '\\':
                out.append('; ')  # a line break of cases or aligned, with its optional [4pt]
                i = re.match(r'\s*(\[[^\]]*\])?', tex[i:]).end() + i
            elif name in SYMBOLS:
                out.append(SYMBOLS[name])
            elif name not in DROP:
                out.append(name)
        elif c == '&':
            out.append(' ')
            i += 1
        elif c in '{}':
            i += 1
        elif c == '_' or c == '^':
            a, i = _group(tex, i + 1)
            a = tex_text(a)
            out.append(('_' if c == '_' else '^') + (a if len(a) == 1 else '{' + a + '}'))
        else:
            out.append(c)
            i += 1
    return re.sub(r' {2,}', ' ', ''.join(out))


def clean(text: str) -> str:
    "Every \\(...\\) and \\[...\\] of a search entry's text as plain text."
    return re.sub(
        r'\\\((.+?)\\\)|\\\[(.+?)\\\]',
        lambda m: tex_text(m.group(1) or m.group(2)),
        text,
        flags=re.S,
    )


if __name__ == '__main__':
    out = Path(os.environ.get('QUARTO_PROJECT_OUTPUT_DIR', '_docs'))
    f = out / 'search.json'
    if f.exists():
        entries = json.loads(f.read_text())
        for e in entries:
            for k in ('text', 'title', 'section'):
                if isinstance(e.get(k), str):
                    e[k] = clean(e[k])
        f.write_text(json.dumps(entries, ensure_ascii=False))
