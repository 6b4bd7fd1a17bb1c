// Every relative link and `#anchor` of the documents a user reads resolves: a file link names
// a file of the repository, an anchor names a heading of its page as GitHub spells it; and the
// repository paths README.md and deploy/README.md name in code spans exist.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { ROOT } from "../_helpers.ts";

/** The documents checked: the READMEs, BENCHMARKS.md, docs/ and the runbooks. */
const DOCS = ["README.md", "BENCHMARKS.md", "deploy/README.md", ..._md("docs"), ..._md("deploy/runbooks")];

/** Markdown with fenced code blocks blanked (their lines kept, so line numbers hold). */
function _prose(text: string): string {
  return text.replace(/^[ \t]*(```|~~~)[^\n]*\n[\s\S]*?^[ \t]*\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ""));
}

/** GitHub's anchor of a heading: its text as rendered, lower case, punctuation dropped, spaces to `-`. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link shows its text
    .replace(/`/g, "")
    .replace(/(\*\*|__|\*|_)(\S(?:.*?\S)?)\1/g, "$2"); // emphasis markers
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a markdown text's headings, with GitHub's `-1`, `-2` for repeats. */
export function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of _prose(text).matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Problems of the links of one document at `file` (relative to ROOT). */
export function brokenLinks(file: string, text: string, read: (path: string) => string | null): string[] {
  const out: string[] = [];
  const prose = _prose(text).replace(/`[^`\n]*`/g, "");
  const own = anchors(text);
  for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1];
    if (target === "" || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, mailto:, ...
    const hash = target.indexOf("#");
    const path = hash < 0 ? target : target.slice(0, hash);
    const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
    const line = prose.slice(0, m.index).split("\n").length;
    const where = `${file}:${line}: ${target}`;
    if (path === "") {
      if (anchor !== null && !own.has(anchor)) out.push(`${where}: no heading with that anchor`);
      continue;
    }
    const resolved = join(dirname(file), decodeURIComponent(path));
    const content = read(resolved);
    if (content === null) {
      out.push(`${where}: no such file`);
      continue;
    }
    if (anchor !== null && resolved.endsWith(".md") && !anchors(content).has(anchor)) {
      out.push(`${where}: ${resolved} has no heading with that anchor`);
    }
  }
  return out;
}

/**
 * Repository paths named in code spans (`deploy/systemd/x.service`) that do not exist. A span
 * is a path when it is path characters only and its first segment is a folder beside the
 * document or at the top; built outputs (`dist/`) are left out.
 */
export function missingPaths(file: string, text: string): string[] {
  const out: string[] = [];
  const bases = [...new Set([join(ROOT, dirname(file)), ROOT])];
  for (const m of _prose(text).matchAll(/`([^`\n]+)`/g)) {
    const p = m[1];
    if (!p.includes("/") || !/^[\w.-]+(\/[\w.-]+)*\/?$/.test(p)) continue;
    const first = p.split("/")[0];
    // What builds and test runs write (.gitignore's folders): there or not, depending on what ran.
    if (first === "dist" || first === ".test-logs" || first === ".bench") continue;
    const under = bases.filter((b) => _isDir(join(b, first)));
    if (under.length > 0 && !under.some((b) => existsSync(join(b, p)))) out.push(`${file}: \`${p}\` does not exist`);
  }
  return out;
}

function _isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

function _md(dir: string): string[] {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".md"))
    .map((f) => relative(ROOT, join(ROOT, dir, f)));
}

function _read(path: string): string | null {
  const abs = join(ROOT, path);
  if (!existsSync(abs)) return null;
  return statSync(abs).isDirectory() ? "" : readFileSync(abs, "utf8");
}

describe("document links", () => {
  it("spells anchors as GitHub does", () => {
    assert.equal(slug("builtin:nvidia-smi"), "builtinnvidia-smi");
    assert.equal(slug("Clients: `status`, `ps`, `why`"), "clients-status-ps-why");
    assert.equal(slug("5. Metrics (the output)"), "5-metrics-the-output");
    assert.equal(slug("A host with systemd"), "a-host-with-systemd");
    assert.equal(slug("**Runbook URLs**"), "runbook-urls");
    assert.deepEqual([...anchors("# A\n## A\n```\n# not a heading\n```\n### A b_c\n")], ["a", "a-1", "a-b_c"]);
  });

  it("finds a link to a missing file or heading, and leaves code and external links alone", () => {
    const doc = "# Top\n\nSee [a](#top), [b](#nope), [c](other.md#x), [d](missing.md), [e](https://example.com/#x),\n`[f](#code)`.\n```\n[g](#fenced)\n```\n";
    const files: Record<string, string> = { "other.md": "## X\n" };
    assert.deepEqual(brokenLinks("doc.md", doc, (p) => files[p] ?? null), [
      "doc.md:3: #nope: no heading with that anchor",
      "doc.md:3: missing.md: no such file",
    ]);
    assert.deepEqual(brokenLinks("doc.md", "[c](other.md#y)", (p) => files[p] ?? null), ["doc.md:1: other.md#y: other.md has no heading with that anchor"]);
  });

  for (const file of DOCS) {
    it(`${file}: every relative link and #anchor resolves`, () => {
      assert.deepEqual(brokenLinks(file, readFileSync(join(ROOT, file), "utf8"), _read), []);
    });
  }

  for (const file of ["README.md", "deploy/README.md"]) {
    it(`${file}: every repository path it names exists`, () => {
      assert.deepEqual(missingPaths(file, readFileSync(join(ROOT, file), "utf8")), []);
    });
  }
});
