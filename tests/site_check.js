// Run in a page of the built site after MathJax has typeset it; returns what tests/test_site.py asserts on.
() => {
  const main = document.querySelector('main#quarto-document-content') || document.querySelector('main');
  const mr = main.getBoundingClientRect();
  const hidden = el => el.closest('mjx-assistive-mml');          // MathJax's copy for screen readers, clipped to nothing
  const out = r => r.right > mr.right + 1 || r.left < mr.left - 1;
  const inScrollBox = el => {                                    // a box between el and the column that scrolls or clips
    for (let a = el.parentElement; a && a !== main; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll' || ox === 'hidden') && !out(a.getBoundingClientRect())) return true;
    }
    return false;
  };
  const overflow = [];
  for (const el of main.querySelectorAll('*')) {
    if (hidden(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || !out(r) || inScrollBox(el)) continue;
    const p = el.parentElement;
    if (p && p !== main && out(p.getBoundingClientRect()) && !inScrollBox(p)) continue;   // report the outermost box only
    overflow.push(`<${el.tagName.toLowerCase()} class="${el.className}"> ${Math.round(r.left - mr.left)}..${Math.round(r.right - mr.left)} px ` +
                  `of a ${Math.round(mr.width)} px column: ${(el.textContent || '').trim().slice(0, 80)}`);
  }
  // text that runs out of its own box (a long word in a heading, say) overflows without any element doing so
  for (const el of main.querySelectorAll('h1, h2, h3, h4, h5, h6, p, li, dt, dd, td, th, figcaption, .description')) {
    if (getComputedStyle(el).overflowX !== 'visible' || inScrollBox(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1 && el.getBoundingClientRect().left + el.scrollWidth > mr.right + 1)
      overflow.push(`text of <${el.tagName.toLowerCase()}> is ${el.scrollWidth} px in a ${el.clientWidth} px box: ${el.textContent.trim().slice(0, 80)}`);
  }
  // code a reader reads: the cells' source blocks must fit the column (ruff keeps them within 100 characters)
  const codeScroll = [...main.querySelectorAll('div.cell-code pre')].filter(p => p.scrollWidth > p.clientWidth + 1)
    .map(p => `${p.scrollWidth} px of code in a ${p.clientWidth} px block: ${(p.textContent || '').trim().split('\n')[0].slice(0, 60)}`);
  // outputs wrap at the column; only a table wider than it scrolls, in a cell marked wide-output (which says so)
  const outputScroll = [...main.querySelectorAll('.cell-output pre, .cell-output-stdout pre, .cell-output-stderr pre')]
    .filter(p => p.scrollWidth > p.clientWidth + 1 && !p.closest('.wide-output'))
    .map(p => `${p.scrollWidth} px of output in a ${p.clientWidth} px block: ${(p.textContent || '').trim().split('\n')[0].slice(0, 60)}`);
  const maths = [...main.querySelectorAll('span.math')];
  const untypeset = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, mjx-container, script, style, .sourceCode').forEach(e => e.remove());
  const prose = clone.textContent;
  const rawTex = (prose.match(/\\\(|\\\[|\\begin\{|\\(mathbf|frac|boldsymbol|mathcal|sqrt|alpha|varepsilon)\b|\$[^$\s][^$\n]*\$/g) || []).slice(0, 5);
  // every 'chapter N' of the prose is a link (to the chapter's page on this site)
  const unlinked = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    // prose: not headings, not code, not a cell's output (a message of the library printed by a cell)
    if (n.parentElement.closest('a, pre, code, mjx-container, script, style, h1, h2, h3, h4, .sourceCode, .cell-output')) continue;
    const m = n.data.match(/\b[Cc]hapters? \d[\d.]*/);
    if (m) unlinked.push(n.data.slice(Math.max(0, m.index - 30), m.index + 40).replace(/\s+/g, ' '));
  }
  // an inline formula is never cut: it fits its line (math_layout.html sets a long one smaller) or scrolls whole
  const clippedInline = [...main.querySelectorAll('mjx-container[jax="CHTML"]:not([display="true"])')].filter(m => {
    const line = m.closest('p, li, td, th, dd, div');
    return m.scrollWidth > m.clientWidth + 1 || (line && m.getBoundingClientRect().width > line.clientWidth + 1);
  }).map(m => (m.querySelector('mjx-assistive-mml math') || m).textContent.slice(0, 60));
  const hrefs = [...main.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  const relLinks = hrefs.filter(h => !/^(https?:|mailto:|#|javascript:)/.test(h));
  const absLinks = hrefs.filter(h => /^https?:/.test(h));
  // docstrings as the site shows them: no subscript markup or stray emphasis asterisks left in the prose
  const rawDoc = [...main.querySelectorAll('p')].map(p => {
      const c = p.cloneNode(true); c.querySelectorAll('code, mjx-container').forEach(e => e.remove()); return c.textContent; })
    .filter(t => /_\{|\^\{|^\s*\*\S/.test(t)).map(t => t.trim().slice(0, 60)).slice(0, 5);
  const imgs = [...main.querySelectorAll('img')];
  // citations: Quarto renders one it cannot resolve as ?@key; a resolved one links to its entry in the page's references
  const unresolvedCites = (prose.match(/\?@[\w:-]+|\[@[\w:-]+[^\]]*\]/g) || []).slice(0, 5);
  const citeLinks = [...main.querySelectorAll('a[role="doc-biblioref"]')].map(a => a.getAttribute('href'));
  const refs = [...document.querySelectorAll('#refs .csl-entry')].map(e => ({
    id: e.id, text: e.textContent.trim().slice(0, 120), links: [...e.querySelectorAll('a[href]')].map(a => a.href)}));
  // the notebook the page is built from, and the Colab badge (nbs/notebook_links.html)
  const href = sel => { const a = main.querySelector(sel) || document.querySelector(sel); return a ? a.href : null; };
  // table cells: no word broken across lines, except after a hyphen or a slash (where a line may break)
  const brokenWords = [];
  let tableWords = 0;
  for (const cell of main.querySelectorAll('td, th')) {
    if (hidden(cell)) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('mjx-container')) continue;
      for (const m of node.textContent.matchAll(/\S+/g)) {
        tableWords++;
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size < 2) continue;
        let lastTop = null, bad = false;                        // where does the word change line?
        for (let i = 0; i < m[0].length; i++) {
          range.setStart(node, m.index + i); range.setEnd(node, m.index + i + 1);
          const r = [...range.getClientRects()].find(r => r.width > 0);
          if (!r) continue;
          if (lastTop !== null && Math.abs(r.top - lastTop) > 2 && !'-/\u2013\u2014'.includes(m[0][i - 1])) bad = true;
          lastTop = r.top;
        }
        if (bad && brokenWords.length < 20)
          brokenWords.push(`"${m[0]}" in a ${Math.round(cell.getBoundingClientRect().width)} px cell: ${cell.textContent.trim().slice(0, 50)}`);
      }
    }
  }
  return {
    title: document.title,
    pageWidth: document.documentElement.scrollWidth, windowWidth: window.innerWidth, column: Math.round(mr.width),
    formulas: maths.length, untypeset, mathErrors: document.querySelectorAll('mjx-merror').length, rawTex,
    images: imgs.length, brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    overflow, codeScroll, outputScroll, codeBlocks: main.querySelectorAll('div.cell-code pre').length, text: main.innerText,
    bodyFont: getComputedStyle(document.body).fontFamily, unlinked, relLinks, absLinks, clippedInline, rawDoc,
    prevNext: !!document.querySelector('nav.page-navigation .nav-page-previous a, nav.page-navigation .nav-page-next a'),
    unresolvedCites, citeLinks, refs, notebookSource: href('a.notebook-source'), colab: href('a.colab-badge'),
    brokenWords, tableWords, tables: main.querySelectorAll('table').length,
  };
}
