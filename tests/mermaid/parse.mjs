// Parse Mermaid diagrams with Mermaid's own parser (the one GitHub's renderer runs).
// stdin: a JSON array of diagram texts; stdout: a JSON array of {ok, type} or {ok: false, error}.
// Mermaid needs a DOM (DOMPurify) even to parse: jsdom provides one.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ ok: true, type: parsed.diagramType });
  } catch (error) {
    results.push({ ok: false, error: String(error?.message ?? error).slice(0, 2000) });
  }
}
process.stdout.write(JSON.stringify(results));
