// Summarises a .cpuprofile (Chrome format, as `bun --cpu-prof` and `node --cpu-prof` write
// it): self time per function and inclusive time per source area, so a profile can be read in
// a terminal. Not part of `npm run bench`; a tool for finding what to fix.
//
//   node --import tsx scripts/bench/profile-top.ts FILE.cpuprofile [N]
import { readFileSync } from "node:fs";

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface Node {
  id: number;
  callFrame: Frame;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [file, nText] = process.argv.slice(2);
const top = Number(nText ?? 30);
const prof = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map<number, number>();
prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, prof.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const label = (f: Frame) => `${f.functionName || "(anon)"} ${_short(f.url)}:${f.lineNumber + 1}`;
const area = (f: Frame) => {
  const m = /\/(src\/[a-z-]+|node_modules\/[^/]+)/.exec(f.url);
  return m ? m[1] : f.url ? "other" : "(native/vm)";
};

// Self time per function; inclusive time per area (an area counted once per sample).
const self = new Map<string, number>();
const incl = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  self.set(label(n.callFrame), (self.get(label(n.callFrame)) ?? 0) + us);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const f = byId.get(cur)!.callFrame;
    const a = area(f);
    if (!seen.has(a)) {
      seen.add(a);
      incl.set(a, (incl.get(a) ?? 0) + us);
    }
  }
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total ${(total / 1000).toFixed(0)} ms\n\ninclusive by area:`);
for (const [a, us] of [...incl].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`${pct(us)}  ${a}`);
console.log(`\nself by function:`);
for (const [f, us] of [...self].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${f}`);

function _short(url: string): string {
  return url.replace(/^.*\/(src|node_modules)\//, "$1/");
}
