/**
 * The body-signature store: `.ndb` signatures held the way clamd holds them, as bytes. Every
 * signature is a row of small typed arrays (ordinal, target, offset, where its program and name
 * start); patterns are byte programs (./program.ts) in one array, names in another, and each
 * signature has one atom (up to 4 whole bytes at a known distance from its start) in a sorted
 * key table behind the engine's atom pre-filter. The serialised form is those arrays laid end to
 * end, so loading it in a scan thread makes views over the shared bytes and builds nothing.
 *
 * A scan finds atom hits in one pass (the engine's findAtomHits), runs each hit signature's
 * program at the start positions its atom allows, records every match, and then keeps the
 * signatures whose target type and offset accept one of their matches: the semantics of the
 * YARA rule `translateNdb` would emit (same target checks, `at`/`in` ranges, lazy jumps,
 * 4096-byte match limit for variable patterns), without a rule per signature.
 */
import {
  atomSkipTable,
  buildAtomFilter,
  builtinModules,
  findAtomHits,
  HitBuffer,
  ScanError,
  type AtomFilter,
  type ScanContext,
} from "@vigil/engine";
import { needsRegex, parseHexSignature, prepareHex, type HexNode } from "../../signature/hexsig.js";
import {
  parseOffset,
  ruleIdentifier,
  targetCondition,
  targetSelects,
  type NdbSignature,
} from "../../signature/fields.js";
import { ClamavError } from "../../error.js";
import { ByteSink, encode, matchAt, OP_EXACT, work } from "./program.js";

/** Offset kinds as stored. */
const OFF_ANY = 0,
  OFF_ABS = 1,
  OFF_EOF = 2,
  OFF_EP = 3,
  OFF_SECTION = 4,
  OFF_SECTION_END = 5,
  OFF_LAST_SECTION = 6;
/** Longest match of a pattern with jumps or alternatives (the engine's regex limit). */
const MATCH_LIMIT = 4096;
/** How far before an atom a match may start when the pattern before it has no upper bound. */
const BACKWARD_LIMIT = 4096;
const PLAIN_HEX = /^[0-9a-fA-F]+$/;
const FORMAT = "vigil-bodydb";
const VERSION = 1;

/** One matched signature of a scan: its matches (sorted starts and lengths). */
export interface BodyMatch {
  sig: number;
  /** position among all ClamAV body and logical signatures (the order translated rules would have). */
  ordinal: number;
  starts: number[];
  lengths: number[];
}

/** Growable typed column. */
class Column {
  a: Int32Array = new Int32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  view(): Int32Array {
    return this.a.subarray(0, this.n);
  }
}

const EXE_TARGETS = new Set([1, 6, 9]);

/** Quality of an atom of whole bytes, bytes[from, from+len) (higher is better): rare, distinct bytes win. */
function atomScore(bytes: ArrayLike<number>, from = 0, len = bytes.length): number {
  let q = 0,
    distinct = 0;
  for (let i = from; i < from + len; i++) {
    const b = bytes[i]!;
    q += b === 0x00 || b === 0xff || b === 0x20 || b === 0xcc || b === 0x90 ? 12 : b >= 0x61 && b <= 0x7a ? 18 : 20;
    let first = true;
    for (let j = from; j < i; j++)
      if (bytes[j] === b) {
        first = false;
        break;
      }
    if (first) distinct++;
  }
  if (len > 1 && distinct === len) q += 2 * len;
  if (len > 1 && distinct === 1) q -= 10 * len;
  return q;
}

/**
 * The best atom of a lowered pattern: up to 4 consecutive whole bytes of the top-level sequence,
 * with the range of distances from the match start to it. Undefined when the pattern has no
 * whole byte outside alternatives.
 */
function chooseAtom(body: HexNode[]): { bytes: number[]; preMin: number; preMax: number } | undefined {
  let best: { bytes: number[]; preMin: number; preMax: number; score: number } | undefined;
  let preMin = 0,
    preMax = 0; // distance from the start to node i
  for (let i = 0; i < body.length; i++) {
    const n = body[i]!;
    if (n.kind === "byte" && n.mask === 0xff) {
      // windows of up to 4 whole bytes starting here
      const bytes: number[] = [];
      for (let j = i; j < body.length && j < i + 4; j++) {
        const m = body[j]!;
        if (m.kind !== "byte" || m.mask !== 0xff) break;
        bytes.push(m.value);
      }
      const cappedMax = Math.min(preMax, preMin + BACKWARD_LIMIT);
      // longer atoms first, then quality, then a narrower start range, then nearer the start
      const score = bytes.length * 1000 + atomScore(bytes) * 4 - Math.min(cappedMax - preMin, 64) / 16;
      if (!best || score > best.score) best = { bytes, preMin, preMax: cappedMax, score };
    }
    if (n.kind === "byte" || n.kind === "set") {
      preMin++;
      preMax++;
    } else if (n.kind === "jump") {
      preMin += n.min;
      preMax = n.max === undefined ? Infinity : preMax + n.max;
    } else if (n.kind === "alt") {
      const lens = n.alternatives.map(altLength);
      preMin += Math.min(...lens);
      preMax += Math.max(...lens);
    }
  }
  return best && { bytes: best.bytes, preMin: best.preMin, preMax: best.preMax };
}

/** Length of an alternative (alternatives hold no ranged jumps, so it is fixed). */
function altLength(a: HexNode[]): number {
  let len = 0;
  for (const n of a) {
    if (n.kind === "byte" || n.kind === "set") len++;
    else if (n.kind === "jump") len += n.min;
    else if (n.kind === "alt") len += Math.max(...n.alternatives.map(altLength));
  }
  return len;
}

/**
 * Collects `.ndb` signatures. `add` returns undefined for a signature this store does not hold
 * (end markers `(B)`/`(L)`/`(W)`, the `aa[n-m]` prefix form, VI and macro offsets, no whole byte
 * to anchor on, malformed): the caller translates that one to a YARA rule, which either handles
 * it or reports why not, exactly as before.
 */
export class BodyDbBuilder {
  private ordinal = new Column();
  private ns = new Column();
  private target = new Column();
  private offKind = new Column();
  private offA = new Column();
  private offB = new Column();
  private offShift = new Column();
  private flags = new Column();
  private progStart = new Column();
  private nameStart = new Column();
  private atomLen = new Column();
  private atomKey = new Column();
  private preMin = new Column();
  private preMax = new Column();
  private prog = new ByteSink();
  private names = new ByteSink();
  private namespaces: string[] = [];
  private nsIndex = new Map<string, number>();

  constructor(private readonly suffix: string) {}

  get count(): number {
    return this.ordinal.n;
  }

  add(sig: NdbSignature, ordinal: number, namespace: string): { approximations: string[] } | undefined {
    let off;
    try {
      off = parseOffset(sig.offset);
    } catch {
      return undefined;
    }
    let kind: number,
      a = 0,
      b = 0,
      shift = 0;
    switch (off.kind) {
      case "any":
        kind = OFF_ANY;
        break;
      case "abs":
        kind = OFF_ABS;
        a = off.n;
        shift = off.shift;
        break;
      case "eof":
        kind = OFF_EOF;
        a = off.n;
        shift = off.shift;
        break;
      case "ep":
        kind = OFF_EP;
        a = off.n;
        shift = off.shift;
        break;
      case "section":
        kind = OFF_SECTION;
        a = off.section;
        b = off.n;
        shift = off.shift;
        break;
      case "sectionEnd":
        kind = OFF_SECTION_END;
        a = off.section;
        shift = off.shift;
        break;
      case "lastSection":
        kind = OFF_LAST_SECTION;
        b = off.n;
        shift = off.shift;
        break;
      default:
        return undefined;
    }
    if (kind >= OFF_EP && (!EXE_TARGETS.has(sig.target) || (sig.target === 9 && kind !== OFF_EP))) return undefined;
    // the columns hold a byte for the target and 31 bits for offsets: anything larger is left to the translation
    if (sig.target > 255 || Math.abs(a) > 0x7fffffff || Math.abs(b) > 0x7fffffff || shift > 0x7fffffff)
      return undefined;
    let body: HexNode[];
    const approximations: string[] = [];
    const note = targetCondition(sig.target).note;
    if (note) approximations.push(note);
    if (sig.hex.length % 2 === 0 && sig.hex.length > 0 && PLAIN_HEX.test(sig.hex)) {
      // the common plain-bytes signature: straight from the bytes, no node per byte
      return this.addPlain(sig, Buffer.from(sig.hex, "hex"), ordinal, namespace, kind, a, b, shift, approximations);
    } else {
      try {
        const p = prepareHex(parseHexSignature(sig.hex));
        if (p.edges.length > 0) return undefined;
        body = p.body;
        approximations.push(...p.approximations);
      } catch {
        return undefined;
      }
    }
    const atom = chooseAtom(body);
    if (!atom) return undefined;
    const limited = body.some((n) => n.kind !== "byte");
    this.row(sig, ordinal, namespace, kind, a, b, shift, limited, atom.bytes, atom.preMin, atom.preMax);
    // the translation writes a regular expression, with greedy jumps, when a byte set is large
    encode(body, this.prog, needsRegex(body));
    return { approximations };
  }

  /** A signature of whole bytes only: one EXACT instruction, the atom chosen on the bytes. */
  private addPlain(
    sig: NdbSignature,
    bytes: Uint8Array,
    ordinal: number,
    namespace: string,
    kind: number,
    a: number,
    b: number,
    shift: number,
    approximations: string[],
  ): { approximations: string[] } {
    let best = 0,
      bestScore = -Infinity;
    const len = Math.min(4, bytes.length);
    for (let i = 0; i + len <= bytes.length; i++) {
      const score = atomScore(bytes, i, len);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    this.row(sig, ordinal, namespace, kind, a, b, shift, false, bytes.subarray(best, best + len), best, best);
    for (let at = 0; at < bytes.length; at += 0xffff) {
      const run = bytes.subarray(at, at + 0xffff);
      this.prog.u8(OP_EXACT);
      this.prog.u16(run.length);
      this.prog.bytes(run);
    }
    return { approximations };
  }

  /** The signature's row; its program is written next. */
  private row(
    sig: NdbSignature,
    ordinal: number,
    namespace: string,
    kind: number,
    a: number,
    b: number,
    shift: number,
    limited: boolean,
    atom: ArrayLike<number>,
    preMin: number,
    preMax: number,
  ): void {
    let nsi = this.nsIndex.get(namespace);
    if (nsi === undefined) {
      nsi = this.namespaces.length;
      this.namespaces.push(namespace);
      this.nsIndex.set(namespace, nsi);
    }
    this.ordinal.push(ordinal);
    this.ns.push(nsi);
    this.target.push(sig.target);
    this.offKind.push(kind);
    this.offA.push(a);
    this.offB.push(b);
    this.offShift.push(shift);
    this.flags.push(limited ? 1 : 0);
    this.progStart.push(this.prog.n);
    this.nameStart.push(this.names.n);
    this.names.utf8(sig.name);
    let key = 0;
    for (let i = 0; i < atom.length; i++) key = ((key << 8) | atom[i]!) >>> 0;
    this.atomLen.push(atom.length);
    this.atomKey.push(key | 0);
    this.preMin.push(preMin);
    this.preMax.push(preMax);
  }

  /** The finished store (its arrays laid out as the serialised form, in one buffer). */
  finish(): BodyDb {
    const n = this.count;
    // entries ordered by (atom length, key); per length, unique keys with ranges into entries
    const al = this.atomLen.a,
      ak = this.atomKey.a;
    // one numeric sort key per entry: length (3 bits), key (32), index (17): exact in a double
    // while there are at most 2^18 signatures, else a comparator sort
    const order = new Uint32Array(n);
    if (n <= 1 << 18) {
      const keys = new Float64Array(n);
      for (let i = 0; i < n; i++) keys[i] = (al[i]! * 4294967296 + (ak[i]! >>> 0)) * 262144 + i;
      keys.sort();
      for (let e = 0; e < n; e++) order[e] = keys[e]! % 262144;
    } else {
      const idx = Array.from({ length: n }, (_, i) => i);
      idx.sort((x, y) => al[x]! - al[y]! || (ak[x]! >>> 0) - (ak[y]! >>> 0) || x - y);
      order.set(idx);
    }
    const entSig = new Uint32Array(n),
      entPreMin = new Uint32Array(n),
      entPreMax = new Uint32Array(n),
      entHw = new Int32Array(n);
    let hwSlots = 0;
    const keys: number[][] = [[], [], [], []];
    const ranges: number[][] = [[], [], [], []];
    for (let e = 0; e < n; e++) {
      const s = order[e]!;
      entSig[e] = s;
      entPreMin[e] = this.preMin.a[s]!;
      entPreMax[e] = this.preMax.a[s]!;
      entHw[e] = this.preMin.a[s] === this.preMax.a[s] ? -1 : hwSlots++;
      const l = al[s]! - 1,
        k = ak[s]! >>> 0;
      const kl = keys[l]!;
      if (kl.length === 0 || kl[kl.length - 1] !== k) {
        kl.push(k);
        ranges[l]!.push(e);
      }
    }
    const filter = buildAtomFilter(keys);
    const names = this.names.view();
    const layout: Array<[string, Uint8Array | Uint16Array | Uint32Array | Int32Array]> = [
      ["ordinal", Uint32Array.from(this.ordinal.view())],
      ["ns", Uint16Array.from(this.ns.view())],
      ["target", Uint8Array.from(this.target.view())],
      ["offKind", Uint8Array.from(this.offKind.view())],
      ["flags", Uint8Array.from(this.flags.view())],
      ["offA", Int32Array.from(this.offA.view())],
      ["offB", Int32Array.from(this.offB.view())],
      ["offShift", Uint32Array.from(this.offShift.view())],
      ["progStart", withEnd(this.progStart.view(), this.prog.n)],
      ["nameStart", withEnd(this.nameStart.view(), names.length)],
      ["prog", this.prog.view()],
      ["names", names],
      ["entSig", entSig],
      ["entPreMin", entPreMin],
      ["entPreMax", entPreMax],
      ["entHw", entHw],
      ["tail", filter.tail],
    ];
    for (let l = 0; l < 4; l++) {
      layout.push([`keys${l}`, Uint32Array.from(keys[l]!)]);
      layout.push([
        `ranges${l}`,
        withEnd(ranges[l]!, keys[l]!.length ? (l < 3 ? firstOfLength(order, al, l + 2, n) : n) : 0),
      ]);
      if (filter.bits[l]) layout.push([`bits${l}`, filter.bits[l]!]);
    }
    const header = {
      format: FORMAT,
      version: VERSION,
      count: n,
      hwSlots,
      suffix: this.suffix,
      namespaces: this.namespaces,
      shifts: filter.shifts,
    };
    return BodyDb.fromLayout(header, layout);
  }
}

/** `values` and then `end`, as a Uint32Array (row starts with the end of the last row). */
function withEnd(values: ArrayLike<number>, end: number): Uint32Array {
  const out = new Uint32Array(values.length + 1);
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  out[values.length] = end;
  return out;
}

/** Index of the first entry whose atom is at least `len` bytes long (entries are ordered by length). */
function firstOfLength(order: Uint32Array, al: Int32Array, len: number, n: number): number {
  let lo = 0,
    hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (al[order[mid]!]! < len) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Header {
  format: string;
  version: number;
  count: number;
  hwSlots: number;
  suffix: string;
  namespaces: string[];
  shifts: number[];
  sections?: Array<[string, string, number, number]>;
}

const TYPES = { Uint8Array, Uint16Array, Uint32Array, Int32Array } as const;
type TypeName = keyof typeof TYPES;

/** Per-scan facts about the file that offsets and targets need, computed when first asked. */
interface ExeInfo {
  ep?: number | undefined;
  count?: number | undefined;
  sections?: Array<{ start: number; size: number } | undefined>;
}

export class BodyDb {
  private constructor(
    private readonly header: Header,
    readonly bytes: Uint8Array,
    private readonly t: Record<string, Uint8Array | Uint16Array | Uint32Array | Int32Array>,
  ) {
    this.filter = {
      tail: t.tail as Uint8Array,
      bits: [0, 1, 2, 3].map((l) => (t[`bits${l}`] as Uint32Array | undefined) ?? null),
      shifts: header.shifts,
    };
  }
  private readonly filter: AtomFilter;
  /** whether filter.skip was worked out (at the first scan, in each thread: 64 KiB) */
  private skipReady = false;
  private readonly hits = new HitBuffer();
  private hwAt: Int32Array | undefined;
  private hwEpoch: Uint32Array | undefined;
  private epoch = 0;

  /** Lays the arrays end to end (8-byte aligned) after a length-prefixed JSON header. */
  static fromLayout(
    header: Header,
    layout: Array<[string, Uint8Array | Uint16Array | Uint32Array | Int32Array]>,
  ): BodyDb {
    let at = 0;
    const sections: Array<[string, string, number, number]> = [];
    for (const [name, arr] of layout) {
      sections.push([name, arr.constructor.name, at, arr.length]);
      at += arr.byteLength;
      at = (at + 7) & ~7;
    }
    const head = Buffer.from(JSON.stringify({ ...header, sections }));
    const base = (8 + head.length + 7) & ~7;
    const out = new Uint8Array(new SharedArrayBuffer(base + at));
    new DataView(out.buffer).setUint32(0, 0x42445956, true); // "VYDB"
    new DataView(out.buffer).setUint32(4, head.length, true);
    out.set(head, 8);
    for (const [name, arr] of layout) {
      const s = sections.find((x) => x[0] === name)!;
      out.set(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength), base + s[2]);
    }
    return BodyDb.load(out);
  }

  /** Views over serialised bytes (shared, not copied, when they are aligned). */
  static load(bytes: Uint8Array): BodyDb {
    const bad = (why: string) =>
      new ClamavError("SIGDB_BAD_COMPILED", `compiled body signatures are unusable (${why}): recompile the database`);
    if (bytes.byteOffset % 8 !== 0) bytes = new Uint8Array(bytes); // typed views need alignment
    if (bytes.length < 8) throw bad("truncated");
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(0, true) !== 0x42445956) throw bad("bad magic");
    const hlen = dv.getUint32(4, true);
    if (8 + hlen > bytes.length) throw bad("truncated header");
    let header: Header;
    try {
      header = JSON.parse(
        Buffer.from(bytes.buffer as ArrayBuffer, bytes.byteOffset + 8, hlen).toString("utf8"),
      ) as Header;
    } catch {
      throw bad("bad header");
    }
    if (header.format !== FORMAT || header.version !== VERSION)
      throw bad(`format ${header.format} ${header.version}, expected ${FORMAT} ${VERSION}`);
    const base = (8 + hlen + 7) & ~7;
    const t: Record<string, Uint8Array | Uint16Array | Uint32Array | Int32Array> = {};
    for (const [name, type, off, len] of header.sections ?? []) {
      const Ctor = TYPES[type as TypeName];
      if (!Ctor) throw bad(`unknown array type ${type}`);
      if (base + off + len * Ctor.BYTES_PER_ELEMENT > bytes.length) throw bad(`section ${name} truncated`);
      t[name] = new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset + base + off, len);
    }
    for (const need of [
      "ordinal",
      "ns",
      "target",
      "offKind",
      "flags",
      "offA",
      "offB",
      "offShift",
      "progStart",
      "nameStart",
      "prog",
      "names",
      "entSig",
      "entPreMin",
      "entPreMax",
      "entHw",
      "tail",
    ]) {
      if (!t[need]) throw bad(`section ${need} missing`);
    }
    if (t.ordinal!.length !== header.count || t.progStart!.length !== header.count + 1 || t.tail!.length !== 65536)
      throw bad("inconsistent sizes");
    return new BodyDb(header, bytes, t);
  }

  get count(): number {
    return this.header.count;
  }

  /** The ClamAV name of signature `sig`, as clamscan prints it. */
  name(sig: number): string {
    const ns = this.t.nameStart as Uint32Array;
    const names = this.t.names as Uint8Array;
    return (
      Buffer.from(names.buffer as ArrayBuffer, names.byteOffset + ns[sig]!, ns[sig + 1]! - ns[sig]!).toString("utf8") +
      this.header.suffix
    );
  }

  /** The scan result of a match in the form the engine's rules give (rule name, namespace, meta). */
  ruleMatch(m: BodyMatch): {
    rule: string;
    namespace: string;
    tags: string[];
    meta: Record<string, string | number>;
    strings: Array<{ identifier: string; matches: Array<{ offset: number; length: number }> }>;
  } {
    const name = this.name(m.sig);
    return {
      rule: ruleIdentifier(m.ordinal, name.replace(/\.UNOFFICIAL$/, "")),
      namespace: this.header.namespaces[(this.t.ns as Uint16Array)[m.sig]!]!,
      tags: [],
      meta: { clamav_name: name, clamav_format: "ndb", clamav_target: (this.t.target as Uint8Array)[m.sig]! },
      strings: [{ identifier: "$s", matches: m.starts.map((offset, i) => ({ offset, length: m.lengths[i]! })) }],
    };
  }

  /**
   * Signatures matching `d`, in ordinal order. `fileType` is the ClamAV type of `d`
   * (../../filetype/typer.ts): a signature with a target type applies only to the types its
   * target selects ("" : only signatures for any file). Throws the engine's SCAN_TIMEOUT past `deadline`.
   */
  scan(d: Uint8Array, deadline = Infinity, fileType = ""): BodyMatch[] {
    const n = d.length;
    if (n === 0 || this.header.count === 0) return [];
    const t = this.t;
    const entSig = t.entSig as Uint32Array,
      entPreMin = t.entPreMin as Uint32Array,
      entPreMax = t.entPreMax as Uint32Array,
      entHw = t.entHw as Int32Array;
    const progStart = t.progStart as Uint32Array,
      prog = t.prog as Uint8Array,
      flags = t.flags as Uint8Array,
      target = t.target as Uint8Array;
    const keyArrays = [t.keys0, t.keys1, t.keys2, t.keys3] as Uint32Array[];
    const rangeArrays = [t.ranges0, t.ranges1, t.ranges2, t.ranges3] as Uint32Array[];
    // per variable-start signature, the last start tried in this scan (the scan's epoch marks
    // which entries are this scan's, so nothing is cleared or allocated per scan)
    const hwAt = (this.hwAt ??= new Int32Array(this.header.hwSlots)),
      hwEpoch = (this.hwEpoch ??= new Uint32Array(this.header.hwSlots));
    const epoch = (this.epoch = (this.epoch + 1) >>> 0 || 1);
    const targetOk = new Int8Array(16).fill(-1);
    const found = new Map<number, { starts: number[]; lengths: number[] }>();
    const hits = this.hits;
    work.steps = 0;
    work.deadline = deadline;
    work.expired = timedOut;
    if (!this.skipReady) {
      this.filter.skip = atomSkipTable([t.keys0, t.keys1, t.keys2, t.keys3].map((k) => k ?? []) as Uint32Array[]);
      this.skipReady = true;
    }
    const WINDOW = 1 << 20;
    for (let base = 0; base < n; base += WINDOW) {
      findAtomHits(d, base, Math.min(n, base + WINDOW), this.filter, hits);
      const hp = hits.pos,
        hl = hits.len,
        hn = hits.n;
      for (let h = 0; h < hn; h++) {
        const pos = hp[h]!,
          len = hl[h]!;
        let key = 0;
        for (let k = 0; k < len; k++) key = ((key << 8) | d[pos + k]!) >>> 0;
        const keys = keyArrays[len - 1]!;
        // binary search for the key
        let lo = 0,
          hi = keys.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (keys[mid]! < key) lo = mid + 1;
          else hi = mid;
        }
        if (lo >= keys.length || keys[lo] !== key) continue;
        const ranges = rangeArrays[len - 1]!;
        for (let e = ranges[lo]!, eEnd = ranges[lo + 1]!; e < eEnd; e++) {
          const sig = entSig[e]!;
          const tg = target[sig]!;
          let ok = tg < 16 ? targetOk[tg]! : -1;
          if (ok === -1) {
            ok = targetSelects(tg, fileType) ? 1 : 0;
            if (tg < 16) targetOk[tg] = ok;
          }
          if (ok === 0) continue;
          let from = pos - entPreMax[e]!;
          const to = pos - entPreMin[e]!;
          const slot = entHw[e]!;
          if (slot >= 0 && hwEpoch[slot] === epoch && from <= hwAt[slot]!) from = hwAt[slot]! + 1;
          if (from < 0) from = 0;
          if (to < from) continue;
          const pc = progStart[sig]!,
            end = progStart[sig + 1]!;
          const limited = flags[sig]! & 1;
          for (let s = from; s <= to; s++) {
            const stop = limited ? Math.min(n, s + MATCH_LIMIT) : n;
            const m = matchAt(prog, pc, end, d, s, stop);
            if (m < 0) continue;
            let f = found.get(sig);
            if (!f) found.set(sig, (f = { starts: [], lengths: [] }));
            if (f.starts.length < 1_000_000) {
              f.starts.push(s);
              f.lengths.push(m - s);
            }
          }
          if (slot >= 0) {
            hwAt[slot] = to;
            hwEpoch[slot] = epoch;
          }
        }
      }
      if (Date.now() > deadline) timedOut();
    }
    if (found.size === 0) return [];
    const out: BodyMatch[] = [];
    let exe: ExeInfo | undefined;
    const ordinal = t.ordinal as Uint32Array,
      offKind = t.offKind as Uint8Array,
      offA = t.offA as Int32Array,
      offB = t.offB as Int32Array,
      offShift = t.offShift as Uint32Array;
    for (const [sig, f] of found) {
      const kind = offKind[sig]!;
      let lo: number | undefined = 0,
        hi: number | undefined = 0;
      const a = offA[sig]!,
        b = offB[sig]!,
        shift = offShift[sig]!;
      if (kind !== OFF_ANY) {
        if (kind === OFF_ABS) lo = a;
        else if (kind === OFF_EOF) lo = n - a;
        else {
          exe ??= exeInfo(target[sig]!, d);
          if (kind === OFF_EP) lo = exe.ep === undefined ? undefined : exe.ep + a;
          else {
            const secs = exe.sections;
            // as YARA's pe.sections[pe.number_of_sections - 1]: undefined without a count
            const idx = kind === OFF_LAST_SECTION ? (exe.count === undefined ? -1 : exe.count - 1) : a;
            const sec = secs && idx >= 0 ? secs[idx] : undefined;
            if (sec === undefined) lo = undefined;
            else if (kind === OFF_SECTION_END) {
              lo = sec.start;
              hi = sec.start + sec.size + shift;
            } else lo = sec.start + b;
          }
        }
        if (lo === undefined) continue;
        if (kind !== OFF_SECTION_END) hi = lo + shift;
        if (!f.starts.some((s) => s >= lo! && s <= hi!)) continue;
      }
      out.push({ sig, ordinal: ordinal[sig]!, starts: f.starts, lengths: f.lengths });
    }
    out.sort((x, y) => x.ordinal - y.ordinal);
    return out;
  }
}

function timedOut(): never {
  throw new ScanError("SCAN_TIMEOUT", "scan timed out");
}

/** Entry point and sections (file offsets and sizes) from the engine's pe / elf / macho modules. */
function exeInfo(target: number, d: Uint8Array): ExeInfo {
  const name = target === 1 ? "pe" : target === 6 ? "elf" : target === 9 ? "macho" : undefined;
  const mod = name ? builtinModules.get(name) : undefined;
  if (!mod) return {};
  let text: string | undefined;
  const ctx: ScanContext = {
    data: d,
    text: () => (text ??= Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("latin1")),
    moduleData: undefined,
    cache: new Map(),
    log: () => {},
  };
  let root: Record<string, unknown>;
  try {
    root = mod.load(ctx) as Record<string, unknown>;
  } catch {
    return {};
  }
  const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined);
  const info: ExeInfo = { ep: num(root.entry_point), count: num(root.number_of_sections) };
  const secs = root.sections;
  if (Array.isArray(secs)) {
    const startKey = target === 1 ? "raw_data_offset" : "offset";
    const sizeKey = target === 1 ? "raw_data_size" : "size";
    info.sections = secs.map((s: Record<string, unknown> | undefined) => {
      const start = s ? num(s[startKey]) : undefined,
        size = s ? num(s[sizeKey]) : undefined;
      return start === undefined || size === undefined ? undefined : { start, size };
    });
  }
  return info;
}
