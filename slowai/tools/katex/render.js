// render.js: typesets TeX with KaTeX at build time, so the course's pages need no script and no
// network to show formulas. Reads a JSON array of {"tex": "...", "display": bool} on stdin and
// writes a JSON array of {"html": "..."} or {"error": "..."} in the same order.
// Used by slowai/cmd/lessons; KaTeX is installed next to this file by `make setup`.
"use strict";
const katex = require("katex");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const items = JSON.parse(input);
  const out = items.map(({ tex, display }) => {
    try {
      return { html: katex.renderToString(tex, { displayMode: !!display, throwOnError: true, output: "htmlAndMathml", strict: "ignore" }) };
    } catch (e) {
      return { error: String(e && e.message ? e.message : e) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
