// The native .ndb store (src/bodydb) against the YARA translation it replaces: seeded random
// signatures in every hex form, offset kind and target type, over files built to match them and
// over noise from a four-letter alphabet (so partial matches, repeats and jumps are frequent).
// Both must report the same rules in the same order with the same match offsets and lengths.
// Against clamscan itself the native store runs in clamav-diff and clamav-random.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile, ScanError } from "@vigil/engine";
import { BodyDb, ClamavError, loadClamavDatabase } from "../src/index.js";
import { nativeDetector } from "./helpers/native.js";
import { ELF_EP, makeElf, makePe, PE_EP, PE_S0, PE_S1 } from "./clamav-fixtures.js";
import { corpus, mulberry32, needs } from "@vigil/test-kit";

const work = mkdtempSync(join(tmpdir(), "vigil-bodydb-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hx = (b: number) => b.toString(16).padStart(2, "0");
const ALPHA = [0x41, 0x42, 0x43, 0x44];

/** A random body in every hex form, and a function that writes bytes matching it. */
function body(r: () => number): { hex: string; make: () => number[] } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const lit = () => pick(ALPHA);
  const parts: Array<{ hex: string; make: () => number[] }> = [];
  const run = (n: number) => {
    const bs = Array.from({ length: n }, lit);
    return { hex: bs.map(hx).join(""), make: () => bs };
  };
  parts.push(run(2 + Math.floor(r() * 4)));
  const n = Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const kind = pick([
      "wild",
      "nib",
      "jump",
      "range",
      "upto",
      "from",
      "star",
      "alt1",
      "altfixed",
      "not1",
      "notfixed",
      "mid",
    ] as const);
    switch (kind) {
      case "wild":
        parts.push({ hex: "??", make: () => [lit()] });
        break;
      case "nib": {
        const b = lit();
        parts.push(r() < 0.5 ? { hex: `${hx(b)[0]}?`, make: () => [b] } : { hex: `?${hx(b)[1]}`, make: () => [b] });
        break;
      }
      case "jump": {
        const j = Math.floor(r() * 4);
        parts.push({ hex: `{${j}}`, make: () => Array.from({ length: j }, lit) });
        break;
      }
      case "range": {
        const a = Math.floor(r() * 3),
          b = a + Math.floor(r() * 4);
        parts.push({ hex: `{${a}-${b}}`, make: () => Array.from({ length: a + Math.floor(r() * (b - a + 1)) }, lit) });
        break;
      }
      case "upto": {
        const b = Math.floor(r() * 5);
        parts.push({ hex: `{-${b}}`, make: () => Array.from({ length: Math.floor(r() * (b + 1)) }, lit) });
        break;
      }
      case "from": {
        const a = Math.floor(r() * 3);
        parts.push({ hex: `{${a}-}`, make: () => Array.from({ length: a + Math.floor(r() * 5) }, lit) });
        break;
      }
      case "star":
        parts.push({ hex: "*", make: () => Array.from({ length: Math.floor(r() * 6) }, lit) });
        break;
      case "alt1": {
        const a = lit(),
          b = lit();
        parts.push({ hex: `(${hx(a)}|${hx(b)})`, make: () => [r() < 0.5 ? a : b] });
        break;
      }
      case "altfixed": {
        const a = [lit(), lit()],
          b = [lit(), lit()];
        parts.push({ hex: `(${a.map(hx).join("")}|${b.map(hx).join("")})`, make: () => (r() < 0.5 ? a : b) });
        break;
      }
      case "not1": {
        const a = lit();
        parts.push({ hex: `!(${hx(a)})`, make: () => [ALPHA.find((x) => x !== a)!] });
        break;
      }
      case "notfixed": {
        const a = [lit(), lit()];
        parts.push({ hex: `!(${a.map(hx).join("")})`, make: () => [a[0] === 0x41 ? 0x42 : 0x41, lit()] });
        break;
      }
      case "mid":
        parts.push({ hex: pick(["(B)", "(W)"]), make: () => [0x20] });
        break;
    }
    parts.push(run(1 + Math.floor(r() * 3)));
  }
  return { hex: parts.map((p) => p.hex).join(""), make: () => parts.flatMap((p) => p.make()) };
}

interface Case {
  line: string;
  files: Uint8Array[];
}

/** One signature with a target and offset, and files that put an instance where it asks (or near). */
function sigCase(r: () => number, i: number): Case {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const b = body(r);
  const target = pick([0, 0, 0, 1, 1, 6, 6, 3, 7, 5, 10, 12]);
  const exe = target === 1 || target === 6;
  const offsets = exe
    ? ["*", "EP+0", "EP+4", "EP-2,8", "S0+8", "S1+0,16", "SE0", "SE1,8", "SL+4", "SL+0,32", "16", "EOF-300,200"]
    : ["*", "*", "0", "16", "10,20", "EOF-40", "EOF-60,30"];
  const offset = pick(offsets);
  const files: Uint8Array[] = [];
  for (let v = 0; v < 3; v++) {
    const inst = Uint8Array.from(b.make());
    let at: number;
    const base = target === 1 ? makePe() : target === 6 ? makeElf() : new Uint8Array(0x300).fill(0x61);
    const f = new Uint8Array(base);
    if (target === 5) f.set([0x89, 0x50, 0x4e, 0x47], 0);
    if (target === 10) f.set([0x25, 0x50, 0x44, 0x46], 0);
    if (target === 12) f.set([0xca, 0xfe, 0xba, 0xbe], 0);
    const ep = target === 1 ? PE_EP : ELF_EP;
    const m = offset.match(/^(EP|S0|S1|SL|SE0|SE1|EOF-)?([+-]?\d*)/)!;
    const num = Number(m[2] || 0);
    switch (m[1]) {
      case "EP":
        at = ep + num;
        break;
      case "S0":
        at = (target === 1 ? PE_S0 : 0x40) + num;
        break;
      case "S1":
      case "SL":
        at = (target === 1 ? PE_S1 : 0x200) + num;
        break;
      case "SE0":
      case "SE1":
        at = (target === 1 ? PE_S1 : 0x200) + 4;
        break;
      case "EOF-":
        at = f.length - num;
        break;
      default:
        at = offset === "*" ? 0x40 + Math.floor(r() * 0x100) : num;
    }
    at += v === 2 ? 1 + Math.floor(r() * 3) : 0; // the third copy a little off
    if (at >= 0 && at + inst.length <= f.length) f.set(inst, at);
    files.push(f);
  }
  return { line: `Bd.Random.Sig${i}-1:${target}:${offset}:${b.hex}`, files };
}

/** Matches as the detector reports them, for comparison. */
function shape(
  ms: Array<{
    rule: string;
    namespace?: string;
    meta?: Record<string, unknown>;
    strings?: Array<{ identifier: string; matches: Array<{ offset: number; length: number }> }>;
  }>,
) {
  return ms.map((m) => ({
    rule: m.rule,
    ns: m.namespace,
    name: m.meta?.clamav_name,
    target: m.meta?.clamav_target,
    strings: m.strings?.map((s) => ({ identifier: s.identifier, matches: s.matches.map((x) => [x.offset, x.length]) })),
  }));
}

describe("native .ndb store against the YARA translation", () => {
  it("same rules, order, offsets and lengths on seeded random signatures and files", () => {
    const r = mulberry32(Number(process.env.VIGIL_SEED ?? 0xb0d1db));
    const cases = Array.from({ length: 400 }, (_, i) => sigCase(r, i));
    const db = join(work, "random.ndb");
    writeFileSync(db, cases.map((c) => c.line).join("\n") + "\n");
    // a few logical signatures in between, to check the merged order
    const ldb = join(work, "random.ldb");
    writeFileSync(
      ldb,
      "Bd.Logical-1;Engine:51-255,Target:0;0&1;414243;4344\nBd.Logical-2;Engine:51-255,Target:0;0;4142434441\n",
    );

    const translated = loadClamavDatabase([db, ldb]);
    expect(translated.warnings.filter((w) => w.code !== "SIGDB_APPROXIMATE")).toEqual([]);
    const rules = compile(translated.yara, { externals: translated.externals });
    const detector = nativeDetector([db, ldb]);
    const held = detector.set.bodies!;
    expect(held.count).toBeGreaterThan(380); // all but those with end markers or prefix forms

    const noise = (seed: number, n: number) => {
      const rr = mulberry32(seed);
      return Uint8Array.from({ length: n }, () => ALPHA[Math.floor(rr() * 4)]!);
    };
    const files = [
      ...cases.flatMap((c) => c.files),
      noise(1, 4096),
      noise(2, 20000),
      makePe(),
      makeElf(),
      new Uint8Array(0),
      Uint8Array.of(0x41),
    ];
    let matched = 0,
      multi = 0;
    for (const f of files) {
      const want = shape(
        rules.scan(f, { externals: { clamav_container: "", clamav_type: translated.typer.typeOf(f) } }).matches,
      );
      const got = shape(detector.scan(f, {}));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        for (let i = 0; i < Math.max(got.length, want.length); i++)
          if (JSON.stringify(got[i]) !== JSON.stringify(want[i])) {
            const idx = Number(/^clamav_(\d+)_/.exec(want[i]?.rule ?? got[i]!.rule)![1]);
            console.log(
              "first difference:",
              cases[idx]?.line,
              JSON.stringify(got[i]),
              JSON.stringify(want[i]),
              Buffer.from(f).toString("latin1").slice(700, 740),
            );
            break;
          }
      }
      expect(got).toEqual(want);
      matched += got.length;
      if (got.some((g) => (g.strings?.[0]?.matches.length ?? 0) > 1)) multi++;
    }
    // the test proves little unless many signatures match, some of them more than once
    expect(matched).toBeGreaterThan(1000);
    expect(multi).toBeGreaterThan(20);
  });

  it.skipIf(needs("rfxn .ndb in the body store", { corpora: ["clamav/rfxn"] }))(
    "every rfxn .ndb signature (corpora/clamav/rfxn) is found the same in files built from it",
    () => {
      const ndbPath = join(corpus("clamav/rfxn"), "rfxn.ndb");
      const lines = readFileSync(ndbPath, "utf8").trim().split("\n");
      const translated = loadClamavDatabase(ndbPath);
      const rules = compile(translated.yara, { externals: translated.externals });
      const detector = nativeDetector([ndbPath]);
      expect(BodyDb.load(detector.set.bodies!.bytes).count).toBe(lines.length);
      let found = 0;
      lines.forEach((line, i) => {
        const hex = line.split(":")[3]!;
        if (!/^[0-9a-f]+$/i.test(hex)) return;
        const f = Buffer.concat([Buffer.alloc(40 + (i % 7), 0x2e), Buffer.from(hex, "hex"), Buffer.alloc(30, 0x2e)]);
        const want = shape(
          rules.scan(f, { externals: { clamav_container: "", clamav_type: translated.typer.typeOf(f) } }).matches,
        );
        expect(shape(detector.scan(f, {}))).toEqual(want);
        found += want.length;
      });
      expect(found).toBeGreaterThanOrEqual(lines.length);
    },
  );

  it("signatures the store does not hold go to the translation, and are found the same", () => {
    const db = join(work, "fallback.ndb");
    writeFileSync(
      db,
      [
        "Bd.Marker.End-1:0:*:41424344(B)", // end marker: an edge predicate
        "Bd.Prefix.Form-1:0:*:41[1-2]42434445", // the aa[n-m] prefix form
        "Bd.Only.Alts-1:0:*:(4142|4344)(4546|4748)", // no whole byte outside alternatives
        "Bd.Plain-1:0:*:41424344",
        "Bd.Big.Target-1:257:*:41424344", // a target past a byte (not PE, whatever 257 & 255 says)
      ].join("\n") + "\n",
    );
    const set = loadClamavDatabase(db, { nativeBodies: true });
    expect(set.bodies?.count).toBe(1);
    expect(set.yara[0]!.source.match(/^rule /gm)).toHaveLength(4);
    const detector = nativeDetector([db]);
    const names = detector.scan(Buffer.from("xx ABCD EFGH A BCDE ABGH"), {}).map((m) => m.meta?.clamav_name);
    expect(names).toEqual([
      "Bd.Marker.End-1.UNOFFICIAL",
      "Bd.Prefix.Form-1.UNOFFICIAL",
      "Bd.Only.Alts-1.UNOFFICIAL",
      "Bd.Plain-1.UNOFFICIAL",
      "Bd.Big.Target-1.UNOFFICIAL",
    ]);
  });

  it("loads from its serialised bytes as views, and refuses corrupt bytes with SIGDB_BAD_COMPILED", () => {
    const db = join(work, "ser.ndb");
    writeFileSync(db, "Bd.Ser.A-1:0:*:6162636465\nBd.Ser.B-1:0:EOF-5:7879{1-3}7a\n");
    const set = loadClamavDatabase(db, { nativeBodies: true });
    const bytes = set.bodies!.bytes;
    const again = BodyDb.load(bytes);
    const data = Buffer.from("..abcde..xy12z");
    expect(again.scan(data).map((m) => again.name(m.sig))).toEqual(["Bd.Ser.A-1.UNOFFICIAL", "Bd.Ser.B-1.UNOFFICIAL"]);
    // views over the same memory, not copies
    expect((again as unknown as { bytes: Uint8Array }).bytes.buffer).toBe(bytes.buffer);
    for (const bad of [
      bytes.subarray(0, 6),
      bytes.subarray(0, bytes.length - 16),
      Uint8Array.from(bytes).fill(0, 0, 4),
    ]) {
      let err: unknown;
      try {
        BodyDb.load(Uint8Array.from(bad));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ClamavError);
      expect((err as ClamavError).code).toBe("SIGDB_BAD_COMPILED");
    }
  });

  it("a pathological pattern over a large file ends with SCAN_TIMEOUT at the deadline", () => {
    const db = join(work, "slow.ndb");
    writeFileSync(db, "Bd.Slow-1:0:*:4141{0-400}4141{0-400}4141{0-400}414243\n");
    const set = loadClamavDatabase(db, { nativeBodies: true });
    // runs of A, each ending in the atom "ABC": every start before it tries
    // hundreds of thousands of jump combinations before failing
    const data = Buffer.from(("A".repeat(1500) + "ABC").repeat(600));
    const t = Date.now();
    let err: unknown;
    try {
      set.bodies!.scan(data, Date.now() + 200);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScanError);
    expect((err as ScanError).code).toBe("SCAN_TIMEOUT");
    expect(Date.now() - t).toBeLessThan(5000);
  });
});
