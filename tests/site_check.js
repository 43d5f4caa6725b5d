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
    if (n.parentElement.closest('a, pre, code, mjx-container, script, style, h1, .sourceCode')) continue;
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
  const rawDoc = (prose.match(/[^\s]{0,20}(?:_\{|\^\{|(?:^|\s)\*\S[^*\n]{0,40})/g) || []).slice(0, 5);
  const imgs = [...main.querySelectorAll('img')];
  return {
    title: document.title,
    pageWidth: document.documentElement.scrollWidth, windowWidth: window.innerWidth, column: Math.round(mr.width),
    formulas: maths.length, untypeset, mathErrors: document.querySelectorAll('mjx-merror').length, rawTex,
    images: imgs.length, brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    overflow, codeScroll, codeBlocks: main.querySelectorAll('div.cell-code pre').length, text: main.innerText,
    bodyFont: getComputedStyle(document.body).fontFamily, unlinked, relLinks, absLinks, clippedInline, rawDoc,
    prevNext: !!document.querySelector('nav.page-navigation .nav-page-previous a, nav.page-navigation .nav-page-next a'),
  };
}
