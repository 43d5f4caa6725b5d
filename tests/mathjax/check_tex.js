#!/usr/bin/env node
// Render TeX formulas with MathJax 3 (npm's mathjax-full) and report every TeX error.
//
// stdin:  JSON list of {"tex": "...", "display": true|false, "group": "page name"} (other keys ignored);
//         equation numbers and labels are reset whenever "group" changes, as on a new web page
// stdout: JSON {"checked": N, "packages": [...], "errors": [{"index": i, "message": "..."}]}
//
// The TeX input gets every package of MathJax's all-packages bundle (what tex-chtml-full.js loads)
// EXCEPT `noerrors` and `noundefined`: those two turn errors into red text in a browser, which is
// exactly what this check must catch. Instead of MathJax's default formatError (which typesets the
// message as an <merror> node and carries on), every TexError is recorded. As a second line of
// defence, any error node (mjx-merror / data-mjx-error) left in the CommonHTML output is reported.
'use strict';

const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');
const {CHTML} = require('mathjax-full/js/output/chtml.js');

const packages = AllPackages.filter((p) => p !== 'noerrors' && p !== 'noundefined');

let current = null;   // the error message of the formula being converted, set by formatError
const tex = new TeX({
  packages,
  formatError(jax, err) {
    current = err && err.message ? err.message : String(err);
    return jax.formatError(err);   // keep MathJax's normal behaviour (an <merror> node)
  },
});

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
// A real output jax, as in the browser: the whole pipeline (TeX -> MathML -> CommonHTML) runs.
const chtml = new CHTML({fontURL: 'about:blank'});
const doc = mathjax.document('', {InputJax: tex, OutputJax: chtml});

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

readStdin().then((text) => {
  const items = JSON.parse(text);
  if (!Array.isArray(items)) throw new TypeError('stdin must be a JSON list of {tex, display}');
  const errors = [];
  let group;
  items.forEach((item, index) => {
    if (item.group !== group) { tex.reset(); group = item.group; }
    const src = typeof item === 'string' ? item : item.tex;
    const display = typeof item === 'string' ? false : Boolean(item.display);
    current = null;
    let message = null;
    try {
      const node = doc.convert(src, {display});
      const html = adaptor.outerHTML(node);
      if (current) message = current;
      else if (/<mjx-merror\b|data-mjx-error/.test(html)) message = 'MathJax rendered an error node: ' + html.slice(0, 300);
    } catch (err) {
      message = 'MathJax raised ' + (err && err.stack ? err.stack.split('\n')[0] : String(err));
    }
    if (message) errors.push({index, message});
  });
  process.stdout.write(JSON.stringify({checked: items.length, packages, errors}) + '\n');
}).catch((err) => {
  process.stderr.write('check_tex.js: ' + (err && err.stack ? err.stack : String(err)) + '\n');
  process.exit(2);
});
