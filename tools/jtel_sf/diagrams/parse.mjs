// Parse Mermaid diagrams with Mermaid's own parser (mermaid.parse), headless in Node.
// Usage: node parse.mjs <toolchain root with node_modules>   (stdin: JSON list of diagram texts)
// stdout: JSON list, one {"ok": true, "type": "..."} or {"ok": false, "error": "..."} per diagram.
// jsdom provides the DOM that Mermaid's sanitizer (DOMPurify) needs; nothing is rendered.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const root = process.argv[2];
const require = createRequire(path.join(root, "package.json"));
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const name of ["Element", "HTMLElement", "SVGElement", "DOMParser", "MutationObserver", "getComputedStyle"]) {
  if (!(name in globalThis)) globalThis[name] = dom.window[name];
}
const entry = path.join(root, "node_modules", "mermaid", "dist", "mermaid.core.mjs");
const { default: mermaid } = await import(pathToFileURL(entry).href);
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ ok: true, type: parsed.diagramType });
  } catch (error) {
    results.push({ ok: false, error: String((error && error.message) || error) });
  }
}
process.stdout.write(JSON.stringify(results));
