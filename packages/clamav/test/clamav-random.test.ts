// Seeded random differential test: random .ndb body signatures built from every hex form, files
// made to satisfy each (and copies with one byte changed), run through clamscan, yara (translated
// rule text) and Vigil's engine. All three must report the same file/name pairs.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "@vigil/engine";
import { loadClamavDatabase } from "../src/index.js";
import { nativeDetector } from "./helpers/native.js";
import { mulberry32, needs } from "@vigil/test-kit";
const noTools = needs("ClamAV random differential tests", { tools: ["clamscan", "yara"] });

const hx = (b: number) => b.toString(16).padStart(2, "0");
// body bytes come from upper-case letters and digits; surroundings from lower-case letters and a
// few boundary characters, so a signature only matches where it was put
const BODY = Buffer.from("ABCDEFGHJKMNPQRSTUVWXYZ23456789");
const AROUND = Buffer.from("abcdefghijkmnopqrstuvwxyz -./\n");

interface Generated {
  sig: string;
  /** makes bytes that satisfy the body; `flip` gives the index (in the output) of a literal byte to change for a near miss */
  make: (r: () => number) => { bytes: number[]; literal: number[] };
}

function generate(
  r: () => number,
  id: number,
): { name: string; line: string; instance: (r: () => number) => { bytes: Buffer; literal: number[] }; offset: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const lit = () => pick([...BODY]);
  const parts: Generated[] = [];
  const literalRun = (n: number): Generated => {
    const bs = Array.from({ length: n }, lit);
    return { sig: bs.map(hx).join(""), make: () => ({ bytes: bs, literal: bs.map((_, i) => i) }) };
  };
  parts.push(literalRun(3 + Math.floor(r() * 4)));
  const nParts = 1 + Math.floor(r() * 4);
  for (let k = 0; k < nParts; k++) {
    const kind = pick([
      "wild",
      "nibhi",
      "niblo",
      "jump",
      "range",
      "star",
      "alt1",
      "altfixed",
      "altgen",
      "not1",
      "notfixed",
    ] as const);
    let g: Generated;
    switch (kind) {
      case "wild":
        g = { sig: "??", make: (rr) => ({ bytes: [BODY[Math.floor(rr() * BODY.length)]!], literal: [] }) };
        break;
      case "nibhi": {
        const b = lit();
        g = { sig: `${hx(b)[0]}?`, make: () => ({ bytes: [b], literal: [] }) };
        break;
      }
      case "niblo": {
        const b = lit();
        g = { sig: `?${hx(b)[1]}`, make: () => ({ bytes: [b], literal: [] }) };
        break;
      }
      case "jump":
      case "range":
      case "star": {
        const min = kind === "star" ? 0 : Math.floor(r() * 4);
        const max = kind === "star" ? 40 : min + Math.floor(r() * 5);
        const sig = kind === "star" ? "*" : min === max ? `{${min}}` : `{${min}-${max}}`;
        g = {
          sig,
          make: (rr) => ({
            bytes: Array.from({ length: min + Math.floor(rr() * (max - min + 1)) }, () => pick([...AROUND])),
            literal: [],
          }),
        };
        break;
      }
      case "alt1": {
        const set = [...new Set(Array.from({ length: 2 + Math.floor(r() * 3) }, lit))];
        g = {
          sig: `(${set.map(hx).join("|")})`,
          make: (rr) => ({ bytes: [set[Math.floor(rr() * set.length)]!], literal: [] }),
        };
        break;
      }
      case "altfixed": {
        const len = 2 + Math.floor(r() * 2);
        const alts = [
          ...new Set(
            Array.from({ length: 2 + Math.floor(r() * 2) }, () => Array.from({ length: len }, lit).map(hx).join("")),
          ),
        ];
        g = {
          sig: `(${alts.join("|")})`,
          make: (rr) => ({ bytes: [...Buffer.from(alts[Math.floor(rr() * alts.length)]!, "hex")], literal: [] }),
        };
        break;
      }
      case "altgen": {
        const a = [lit(), lit()];
        const b = [lit(), lit(), lit()];
        g = {
          sig: `(${hx(a[0]!)}??${hx(a[1]!)}|${b.map(hx).join("")})`,
          make: (rr) =>
            rr() < 0.5 ? { bytes: [a[0]!, pick([...BODY]), a[1]!], literal: [] } : { bytes: b, literal: [] },
        };
        break;
      }
      case "not1": {
        const ex = [lit(), lit()];
        g = {
          sig: `!(${[...new Set(ex)].map(hx).join("|")})`,
          make: (rr) => ({ bytes: [pick([...BODY].filter((x) => !ex.includes(x)))], literal: [] }),
        };
        void r;
        break;
      }
      case "notfixed": {
        const ex = [
          [lit(), lit()],
          [lit(), lit()],
        ];
        g = {
          sig: `!(${ex.map((e) => e.map(hx).join("")).join("|")})`,
          make: (rr) => {
            for (;;) {
              const c = [pick([...BODY]), pick([...BODY])];
              if (!ex.some((e) => e[0] === c[0] && e[1] === c[1])) return { bytes: c, literal: [] };
              void rr;
            }
          },
        };
        break;
      }
    }
    parts.push(g);
    parts.push(literalRun(2 + Math.floor(r() * 3)));
  }
  const bracket = r() < 0.12;
  if (bracket) {
    // the older [n-m] form: one byte at the start, bound to the rest
    const b = lit();
    const min = Math.floor(r() * 3);
    const max = min + Math.floor(r() * 4);
    parts.unshift(
      { sig: hx(b), make: () => ({ bytes: [b], literal: [] }) },
      {
        sig: `[${min}-${max}]`,
        make: (rr) => ({
          bytes: Array.from({ length: min + Math.floor(rr() * (max - min + 1)) }, () => pick([...AROUND])),
          literal: [],
        }),
      },
    );
  }
  const anchorL = !bracket && r() < 0.15 ? pick(["(B)", "(W)", "(L)"]) : "";
  const anchorR = r() < 0.15 ? pick(["(B)", "(W)", "(L)"]) : "";
  const body = anchorL + parts.map((p) => p.sig).join("") + anchorR;
  const offsetKind = pick(["*", "*", "*", "abs", "shift", "eof"] as const);
  const name = `Vg.Random.Sig-${id}`;
  let placed = 0;
  const instance = (rr: () => number) => {
    const bytes: number[] = [];
    const literal: number[] = [];
    for (const p of parts) {
      const m = p.make(rr);
      literal.push(...m.literal.map((i) => i + bytes.length));
      bytes.push(...m.bytes);
    }
    const before = Array.from({ length: 20 + Math.floor(rr() * 30) }, () => pick([...AROUND]));
    const after = Array.from({ length: 20 + Math.floor(rr() * 30) }, () => pick([...AROUND]));
    placed = before.length;
    return { bytes: Buffer.from([...before, ...bytes, ...after]), literal: literal.map((i) => i + before.length) };
  };
  // offsets depend on where the body lands: use a fixed layout for anchored offsets
  let offset = "*";
  if (offsetKind === "abs") offset = "32";
  if (offsetKind === "shift") offset = "28,8";
  if (offsetKind === "eof") offset = "EOF-64,20";
  void placed;
  return { name, line: `${name}:0:${offset}:${body}`, instance, offset };
}

const work = mkdtempSync(join(tmpdir(), "vigil-clamav-random-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(noTools)("seeded random .ndb signatures", () => {
  it("clamscan, yara and Vigil report the same files under the same names", () => {
    const r = mulberry32(Number(process.env.VIGIL_SEED ?? 0x5eed2026));
    const filesDir = join(work, "files");
    mkdirSync(filesDir);
    const lines: string[] = [];
    for (let i = 0; i < 160; i++) {
      const g = generate(r, i);
      lines.push(g.line);
      for (let v = 0; v < 2; v++) {
        const { bytes, literal } = g.instance(r);
        // for anchored offsets, place the body where the offset wants it
        let out = bytes;
        if (g.offset !== "*") {
          const bodyStart = bytes.findIndex((b) => BODY.includes(b));
          const bodyEnd = bytes.length - [...bytes].reverse().findIndex((b) => BODY.includes(b));
          const core = bytes.subarray(bodyStart, bodyEnd);
          const at = g.offset === "32" ? 32 : g.offset === "28,8" ? 28 + Math.floor(r() * 9) : -1;
          const total = Math.max(120, core.length + 80);
          const buf = Buffer.from(Array.from({ length: total }, () => AROUND[Math.floor(r() * AROUND.length)]!));
          const start = at >= 0 ? at : total - 64 + Math.floor(r() * 21);
          if (start + core.length <= total) core.copy(buf, start);
          out = buf;
        }
        writeFileSync(join(filesDir, `s${i}-hit${v}`), out);
        if (literal.length > 0 && g.offset === "*") {
          const miss = Buffer.from(out);
          const at = literal[Math.floor(r() * literal.length)]!;
          miss[at] = miss[at] === 0x51 ? 0x52 : 0x51;
          writeFileSync(join(filesDir, `s${i}-miss${v}`), miss);
        }
      }
    }
    const db = join(work, "random.ndb");
    writeFileSync(db, lines.join("\n") + "\n");
    if (process.env.VIGIL_KEEP) writeFileSync(process.env.VIGIL_KEEP, lines.join("\n") + "\n");
    const files = readdirSync(filesDir)
      .sort()
      .map((f) => join(filesDir, f));
    const clam = spawnSync("clamscan", ["--no-summary", "-z", "-d", db, ...files], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    expect(clam.stderr).toBe("");
    const clamFound = new Set<string>();
    for (const line of clam.stdout.split("\n")) {
      const m = line.match(/^(.*): (\S+) FOUND$/);
      if (m) clamFound.add(`${m[1]!.split("/").pop()} ${m[2]}`);
    }
    const set = loadClamavDatabase(db);
    expect(set.warnings.filter((w) => w.code !== "SIGDB_APPROXIMATE")).toEqual([]);
    const rulesPath = join(work, "random.yar");
    writeFileSync(rulesPath, set.yara.map((y) => y.source).join("\n"));
    const byRule = new Map(set.rules.map((x) => [x.ruleName, x.name]));
    const y = spawnSync("yara", ["-w", "-d", "clamav_container=", rulesPath, filesDir], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    expect(y.stderr).toBe("");
    const yaraFound = new Set<string>();
    for (const line of y.stdout.split("\n")) {
      const m = line.match(/^(\S+) (.*)$/);
      if (m) yaraFound.add(`${m[2]!.split("/").pop()} ${byRule.get(m[1]!)}`);
    }
    const rules = compile(set.yara, { externals: set.externals });
    const vigilFound = new Set<string>();
    for (const f of files)
      for (const m of rules.scan(readFileSync(f)).matches)
        vigilFound.add(`${f.split("/").pop()} ${m.meta.clamav_name}`);
    const sorted = (s: Set<string>) => [...s].sort();
    // the generated hits must mostly be found, or the test proves little
    expect(clamFound.size).toBeGreaterThan(200);
    expect(sorted(yaraFound)).toEqual(sorted(clamFound));
    expect(sorted(vigilFound)).toEqual(sorted(clamFound));
    // held natively (bodydb) as a scanner holds them, not as rules
    const detector = nativeDetector([db]);
    const nativeFound = new Set<string>();
    for (const f of files)
      for (const m of detector.scan(readFileSync(f), {}))
        nativeFound.add(`${f.split("/").pop()} ${m.meta?.clamav_name}`);
    expect(sorted(nativeFound)).toEqual(sorted(clamFound));
  });
});

describe.skipIf(noTools)("seeded random .ldb logical expressions", () => {
  it("count modifiers, groups and ClamAV's operator grouping agree with clamscan", () => {
    const r = mulberry32(Number(process.env.VIGIL_SEED ?? 0x1d6b2026) ^ 0x1db);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const dir = join(work, "ldb");
    mkdirSync(dir);
    const lines: string[] = [];
    const files: string[] = [];
    type Node = { leaf: number; mod?: string } | { op: "&" | "|"; l: Node; r: Node; mod?: string };
    // group modifiers nest at most two deep: deeper nests are reported unsupported (too complex)
    const gen = (depth: number, k: number, mods = 0): Node => {
      if (depth === 0 || r() < 0.3) {
        const leaf: Node = { leaf: Math.floor(r() * k) };
        if (r() < 0.3) leaf.mod = `${pick(["=", ">", "<"])}${Math.floor(r() * 3)}`;
        return leaf;
      }
      const withMod = mods < 2 && r() < 0.4;
      const node: Node = {
        op: pick(["&", "|"] as const),
        l: gen(depth - 1, k, mods + (withMod ? 1 : 0)),
        r: gen(depth - 1, k, mods + (withMod ? 1 : 0)),
      };
      if (withMod)
        node.mod = `${pick(["=", ">", "<"])}${Math.floor(r() * 5)}${r() < 0.3 ? `,${1 + Math.floor(r() * 2)}` : ""}`;
      return node;
    };
    const text = (n: Node, top: boolean): string => {
      if ("leaf" in n) return `${n.leaf}${n.mod ?? ""}`;
      const inner = `${text(n.l, false)}${n.op}${text(n.r, false)}`;
      return n.mod ? `(${inner})${n.mod}` : top ? inner : `(${inner})`;
    };
    const used = (n: Node, s: Set<number>): Set<number> => ("leaf" in n ? s.add(n.leaf) : (used(n.l, s), used(n.r, s)));
    for (let i = 0; i < 60; i++) {
      const k = 2 + Math.floor(r() * 4);
      let tree = gen(3, k);
      // renumber so that subsignatures 0..m-1 are all used
      const ids = [...used(tree, new Set())].sort((a, b) => a - b);
      const remap = (n: Node): Node =>
        "leaf" in n ? { ...n, leaf: ids.indexOf(n.leaf) } : { ...n, l: remap(n.l), r: remap(n.r) };
      tree = remap(tree);
      const subs = ids.map((_, j) => `S${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(65 + j)}${i}Z`);
      const name = `Vg.RandomLdb.Sig-${i}`;
      lines.push(
        `${name};Engine:51-255,Target:0;${text(tree, true)};${subs.map((s) => Buffer.from(s).toString("hex")).join(";")}`,
      );
      for (let v = 0; v < 6; v++) {
        const parts: string[] = [];
        for (const s of subs) for (let c = Math.floor(r() * 4); c > 0; c--) parts.push(s);
        parts.sort(() => r() - 0.5);
        const body = parts.map((p) => `..${p}..`).join("");
        const p = join(dir, `l${i}-${v}`);
        // an ELF magic, so clamscan types the file as ELF: a file it does not recognise (text, and
        // most binary data, which it calls UTF-16) is also scanned as normalised lower-case text,
        // where these upper-case subsignatures never match and "=0"/"<N" expressions become true
        writeFileSync(
          p,
          Buffer.concat([
            Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Buffer.from(`start.${body}.end`),
          ]),
        );
        files.push(p);
      }
    }
    const db = join(work, "random.ldb");
    writeFileSync(db, lines.join("\n") + "\n");
    if (process.env.VIGIL_KEEP) writeFileSync(process.env.VIGIL_KEEP + ".ldb", lines.join("\n") + "\n");
    const clam = spawnSync("clamscan", ["--no-summary", "-z", "-d", db, ...files], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    expect(clam.stderr).toBe("");
    const clamFound = new Set<string>();
    for (const line of clam.stdout.split("\n")) {
      const m = line.match(/^(.*): (\S+) FOUND$/);
      if (m) clamFound.add(`${m[1]!.split("/").pop()} ${m[2]}`);
    }
    const set = loadClamavDatabase(db);
    expect(set.warnings.filter((w) => w.code !== "SIGDB_APPROXIMATE")).toEqual([]);
    const rules = compile(set.yara, { externals: set.externals });
    const vigilFound = new Set<string>();
    for (const f of files)
      for (const m of rules.scan(readFileSync(f)).matches)
        vigilFound.add(`${f.split("/").pop()} ${m.meta.clamav_name}`);
    const rulesPath = join(work, "random-ldb.yar");
    writeFileSync(rulesPath, set.yara.map((y) => y.source).join("\n"));
    const byRule = new Map(set.rules.map((x) => [x.ruleName, x.name]));
    const y = spawnSync("yara", ["-w", "-d", "clamav_container=", rulesPath, dir], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    expect(y.stderr).toBe("");
    const yaraFound = new Set<string>();
    for (const line of y.stdout.split("\n")) {
      const m = line.match(/^(\S+) (.*)$/);
      if (m) yaraFound.add(`${m[2]!.split("/").pop()} ${byRule.get(m[1]!)}`);
    }
    const sorted = (s: Set<string>) => [...s].sort();
    if (process.env.VIGIL_KEEP) {
      const diff = [...clamFound]
        .filter((k) => !yaraFound.has(k))
        .concat([...yaraFound].filter((k) => !clamFound.has(k)).map((k) => `yara-only ${k}`));
      const show = new Map<string, string[]>();
      for (const d of diff) {
        const sig = d.split(" ").pop()!.replace(".UNOFFICIAL", "");
        const file = d.split(" ").at(-2)!;
        show.set(sig, [
          ...(show.get(sig) ?? []),
          `${d.startsWith("yara-only") ? "+" : "-"}${file}:${readFileSync(join(dir, file), "latin1").replace(/[^ -~]/g, "")}`,
        ]);
      }
      for (const [sig, fl] of [...show].slice(0, 6))
        console.log(
          lines
            .find((l) => l.startsWith(sig + ";"))!
            .split(";")
            .slice(0, 3)
            .join(";"),
          "\n  ",
          fl.slice(0, 3).join("\n   "),
        );
    }
    // each signature's own files give a mix of hits and misses
    const own = [...clamFound].filter((k) => k.startsWith(`l${k.split("Sig-")[1]!.split(".")[0]}-`)).length;
    expect(own).toBeGreaterThan(files.length * 0.1);
    expect(own).toBeLessThan(files.length * 0.9);
    expect(sorted(yaraFound)).toEqual(sorted(clamFound));
    expect(sorted(vigilFound)).toEqual(sorted(clamFound));
  });
});
