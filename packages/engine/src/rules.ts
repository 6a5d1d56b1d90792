/**
 * Compiled rules -> scanner. `CompiledRules` takes the plain data the compiler produced
 * (RuleSetData), builds the atom tables (every atom of every string in one table, probed once
 * per byte through a bitmap), instantiates the condition functions once, and scans:
 *
 *   bytes --one pass, rolling 32-bit window--> atom hits --verify at hit--> match lists
 *         --> module data (imported modules) --> condition functions in rule order --> matches
 *
 * Literal variants are verified by comparing bytes; hex strings and regexes by the byte-level
 * matcher (vm.ts: a lazy DFA, or a Pike VM for assertions), only at the start offsets an atom
 * allows, behind an unanchored filter that skips regions where no match can start. A pattern
 * whose backtracking work per start is small and bounded (hex strings with jumps) may keep a
 * sticky JavaScript RegExp over the latin1 view of the data (see `matcherFor`).
 */
import { ScanError, LoadError, type Diagnostic } from "./error.js";
import { RE_SCAN_LIMIT, type CompiledString, maskedAtoms, variantAtoms } from "./patterns.js";
import type { RuleSetData, ExternalValue } from "./compiler.js";
import { helpers, type MatchLists } from "./runtime.js";
import { AtomTable, HitBuffer } from "./atoms.js";
import { builtinModules } from "./modules/index.js";
import { parseRegex } from "./regex.js";
import { Matcher, ProgramTooLarge, backtrackBound, compileProgram, newEpoch } from "./vm.js";
import type { FieldType, ScanContext, YaraModule } from "./modules/schema.js";

export interface StringMatch {
  offset: number;
  length: number;
  /** the matched bytes (at most 512, as YARA keeps). */
  data: Uint8Array;
  xorKey?: number;
}

export interface RuleMatch {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | bigint | boolean>;
  /** meta in declaration order (keys may repeat, as in YARA). */
  metaList: Array<[string, string | number | bigint | boolean]>;
  strings: Array<{ identifier: string; matches: StringMatch[] }>;
}

export interface ScanOptions {
  externals?: Record<string, ExternalValue>;
  timeoutMs?: number;
  /** extra data for modules (yara -x MODULE=FILE). */
  moduleData?: Record<string, Uint8Array>;
  /** receives console module output; by default it is collected in result.console. */
  log?: (message: string) => void;
  /** also report rules that did not match (result.nonMatching), like yara -n. */
  reportNonMatching?: boolean;
  /** stop after this many matching rules (yara -l). */
  maxRules?: number;
  /** copy the matched bytes into each StringMatch.data (default true; false leaves data empty, which is faster). */
  matchData?: boolean;
  /** list each matching rule's string matches (default true; false leaves RuleMatch.strings empty). */
  strings?: boolean;
  /** adds this scan's cost per string to the profile (CompiledRules.newProfile; yara-x's --profiling). */
  profile?: ScanProfile;
}

/**
 * Cost of the string search per string (indexed like RuleSetData.strings), summed over the
 * scans it was passed to: time spent verifying at atom hits (and searching, for strings
 * without an atom), verifications (atom hits that reached the string) and regex start
 * positions tried.
 */
export interface ScanProfile {
  time: Float64Array;
  verifications: Float64Array;
  starts: Float64Array;
}

export interface ProfileRow {
  rule: string;
  namespace: string;
  string: string;
  ms: number;
  verifications: number;
  starts: number;
}

export interface ScanResult {
  matches: RuleMatch[];
  nonMatching?: Array<{
    rule: string;
    namespace: string;
    tags: string[];
    meta: Record<string, string | number | bigint | boolean>;
    metaList: Array<[string, string | number | bigint | boolean]>;
  }>;
  /** data of the imported modules, for yara -D. */
  moduleData: Record<string, Record<string, unknown>>;
  console: string[];
  warnings: string[];
}

export const MAX_MATCHES_PER_STRING = 1_000_000;
/** After a time-out in the string search, the conditions get this long (at most the time-out) to run on what was found. */
const CONDITION_GRACE_MS = 1000;
const NO_DATA = new Uint8Array(0);
const NO_MATCHES: number[] = Object.freeze([]) as unknown as number[];
const MAX_MATCH_DATA = 512;
const REGEX_BACKWARD_LIMIT = RE_SCAN_LIMIT;
/** patterns with at most this many backtracking paths per start may keep a RegExp (see matcherFor). */
const BACKTRACK_BOUND = 4096;
/** with fewer candidate starts than this and a short pattern, the filter is not worth running. */
const FILTER_MIN_STARTS = 32;
const FILTER_MIN_LENGTH = 64;

/**
 * A regex match longer than RE_SCAN_LIMIT is not a match for YARA: redo the match over the
 * first RE_SCAN_LIMIT bytes only, which gives the match YARA finds within its limit (or none).
 * (yara counts the limit from the start of its atom, so a match up to 4,096 bytes on either
 * side of the atom passes there; literal regexes have no limit, see RegexPattern.literal.)
 */
function limitedMatch(bytes: Uint8Array, start: number, re: RegExp): number {
  const window = latin1(bytes.subarray(start, Math.min(bytes.length, start + RE_SCAN_LIMIT)));
  const sticky = new RegExp(re.source, "y");
  sticky.lastIndex = 0;
  const m = sticky.exec(window);
  return m === null ? 0 : m[0].length;
}

/** Byte strings of the targets are kept in one pool (`CompiledRules.pool`) as offset and length, not an array each. */
interface LitTarget {
  kind: 0;
  sid: number;
  at: number;
  len: number;
  nocase: boolean;
  xorKey: number | null;
  atomOffset: number;
  wide: boolean;
  fullword: boolean;
}
interface ReTarget {
  kind: 1;
  sid: number;
  form: number;
  re: RegExp;
  prefixMin: number;
  prefixMax: number;
  hwSlot: number;
  fullword: boolean;
  wide: boolean;
  maxLength: number | null;
  anchored: boolean;
  unlimited: boolean;
  /** the byte-level matcher, or null when the RegExp `re` verifies this pattern (undefined: not chosen yet, see matcherFor). */
  m: Matcher | null | undefined;
  src: string;
}
/** a hex string of plain and masked bytes: compared in place, no RegExp. */
interface MaskTarget {
  kind: 2;
  sid: number;
  value: number;
  mask: number;
  len: number;
  prefix: number;
  fullword: boolean;
  wide: boolean;
}
type Target = LitTarget | ReTarget | MaskTarget;

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}
function lowerByte(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b + 32 : b;
}

function latin1(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1");
}

function reviveExternal(v: ExternalValue | { bigint: string }): ExternalValue {
  return typeof v === "object" && v !== null ? BigInt(v.bigint) : v;
}

/** Resolves a function reference (module + path of fields) to its implementation. */
function resolveFunction(
  mod: YaraModule,
  path: string[],
  overload: number,
): (self: any, ctx: ScanContext, ...a: any[]) => unknown {
  let t: FieldType = mod.declarations;
  for (const step of path) {
    if (step === "[]") {
      if (t.kind !== "array" && t.kind !== "dictionary")
        throw new LoadError("LOAD_FORMAT", `module ${mod.name}: bad function path ${path.join(".")}`);
      t = t.of;
    } else {
      if (t.kind !== "struct" || !t.fields[step])
        throw new LoadError(
          "LOAD_FORMAT",
          `module ${mod.name} has no field ${path.join(".")} (compiled with another module version?)`,
        );
      t = t.fields[step]!;
    }
  }
  if (t.kind !== "function" || !t.overloads[overload])
    throw new LoadError("LOAD_FORMAT", `module ${mod.name}: ${path.join(".")} is not a function`);
  return t.overloads[overload]!.impl;
}

export class CompiledRules {
  readonly data: RuleSetData;
  readonly warnings: Diagnostic[];
  private conditions: Array<(c: any) => unknown>;
  private fnImpls: Array<{ impl: (self: any, ctx: ScanContext, ...a: any[]) => unknown; module: string }>;
  private atoms = new AtomTable<Target>();
  private hits = new HitBuffer();
  private atomless: Array<{
    sid: number;
    re: RegExp;
    m: Matcher | null | undefined;
    src: string;
    hwSlot: number;
    fullword: boolean;
    wide: boolean;
    unlimited: boolean;
  }> = [];
  private matcherCache = new Map<string, Matcher | null>();
  /** counters of the last scan (for profiling): verifications at atom hits and filter bytes. */
  readonly stats = { verifications: 0, starts: 0 };
  private hwSlots = 0;
  private externalsDefault: Map<string, ExternalValue>;
  private stringCount: number;
  private regexCache = new Map<string, RegExp>();
  private moBuf: number[][] | undefined;
  /** 1 for each string the conditions only ask the existence of (CompiledString.existsOnly). */
  private existsOnly: Uint8Array;
  /** per string, 1 once an existsOnly string has matched in this scan (reused from scan to scan). */
  private doneBuf: Uint8Array;
  private mlBuf: number[][] | undefined;
  /** literal bytes (lower-cased for nocase), mask values and masks of all targets, end to end. */
  private pool: Uint8Array = new Uint8Array(0);
  /** the pool while the rules are loaded: poolLength bytes used of a buffer that doubles. */
  private poolBytes: Uint8Array = new Uint8Array(1 << 16);
  private poolLength = 0;
  /** the serialised form these rules were loaded from (serialize() gives it back). */
  private readonly serialized: Uint8Array | undefined;

  /**
   * `serialized`: the bytes `data` was parsed from. The rules then keep those (shared, when they
   * are) instead of the strings' pattern details, which only compiling and serialising need: a
   * large rule set loaded in a scan thread holds its tables and little else.
   */
  constructor(data: RuleSetData, warnings: CompiledRules["warnings"] = [], serialized?: Uint8Array) {
    if (data.format !== "vigil-rules") throw new LoadError("LOAD_FORMAT", "not a Vigil compiled rules file");
    if (data.version !== 1)
      throw new LoadError(
        "LOAD_VERSION",
        `compiled rules format version ${data.version} is not supported by this engine (expects 1): recompile the rules`,
      );
    this.data = data;
    this.warnings = warnings;
    this.stringCount = data.strings.length;
    this.externalsDefault = new Map(data.externals.map(([k, v]) => [k, reviveExternal(v)]));
    try {
      this.conditions = new Function("h", data.code)(helpers) as Array<(c: any) => unknown>;
    } catch (e) {
      throw new LoadError("LOAD_FORMAT", "compiled rules contain invalid condition code", { cause: e });
    }
    this.fnImpls = data.functions.map((f) => {
      const mod = builtinModules.get(f.module);
      if (!mod)
        throw new LoadError("LOAD_FORMAT", `compiled rules use module ${f.module}, which this engine does not have`);
      return { impl: resolveFunction(mod, f.path, f.overload), module: f.module };
    });
    data.strings.forEach((s, sid) => this.addString(s, sid));
    this.existsOnly = new Uint8Array(this.stringCount);
    data.strings.forEach((s, sid) => {
      if (s.existsOnly === true) this.existsOnly[sid] = 1;
    });
    this.doneBuf = new Uint8Array(this.stringCount);
    this.pool = this.poolBytes.slice(0, this.poolLength);
    this.poolBytes = new Uint8Array(0);
    this.atoms.build();
    this.serialized = serialized;
    if (serialized) {
      for (const s of data.strings) {
        s.literals = null;
        s.regexes = null;
      }
      data.code = "";
    } else this.dropAtoms(true);
  }

  /**
   * Compiled (not loaded) rules keep their strings' data for serialize(), but not the atoms of
   * literals and masked hex strings, which the atom table now holds and serialize() computes
   * again (a quarter of a large feed's compiled data). `drop` false puts them back.
   */
  private dropAtoms(drop: boolean): void {
    for (const s of this.data.strings) {
      if (s.literals) for (const lit of s.literals) lit.atoms = drop ? DROPPED_ATOMS : variantAtoms(lit);
      if (s.regexes)
        for (const r of s.regexes) {
          if (!r.masked) continue;
          if (drop && r.atoms) r.atoms = DROPPED_PATTERN_ATOMS;
          else if (!drop && r.atoms === DROPPED_PATTERN_ATOMS) r.atoms = maskedAtoms(r.masked);
        }
    }
  }

  /** Puts bytes in the pool; returns their offset. */
  /** Puts a latin1 string's bytes in the pool (lower-cased: `lower`); returns their offset. */
  private poolAddText(text: string, lower: boolean): number {
    const at = this.poolAdd([]);
    this.poolReserve(text.length);
    const pool = this.poolBytes;
    for (let i = 0; i < text.length; i++) {
      const b = text.charCodeAt(i);
      pool[at + i] = lower ? lowerByte(b) : b;
    }
    this.poolLength = at + text.length;
    return at;
  }

  private poolReserve(extra: number): void {
    const at = this.poolLength;
    if (at + extra > this.poolBytes.length) {
      const grown = new Uint8Array(Math.max(this.poolBytes.length * 2, at + extra));
      grown.set(this.poolBytes.subarray(0, at));
      this.poolBytes = grown;
    }
  }

  private poolAdd(bytes: ArrayLike<number>): number {
    const at = this.poolLength;
    this.poolReserve(bytes.length);
    const pool = this.poolBytes;
    for (let i = 0; i < bytes.length; i++) pool[at + i] = bytes[i]!;
    this.poolLength = at + bytes.length;
    return at;
  }

  private regex(source: string, flags: string): RegExp {
    const key = flags + "/" + source;
    let re = this.regexCache.get(key);
    if (!re) {
      re = new RegExp(source, flags);
      this.regexCache.set(key, re);
    }
    return re;
  }

  /**
   * The byte-level matcher for a pattern's source, or null to keep the RegExp; chosen at the
   * pattern's first atom hit, so that loading a large rule set builds no program it does not use. The matcher is
   * linear in the input; a RegExp is kept only for patterns whose backtracking is bounded by a
   * small constant per start (no unbounded or nested repetition: hex strings with jumps, where
   * the lazy DFA would hold one thread per jump length, and classes of fixed count such as
   * [0-9a-f]{32}, which V8 searches natively): measured faster that way on the feeds.
   */
  private matcherFor(source: string): Matcher | null {
    let m = this.matcherCache.get(source);
    if (m !== undefined) return m;
    m = null;
    try {
      const node = parseRegex(source, false, true);
      const prog = compileProgram(node);
      if (backtrackBound(node) > BACKTRACK_BOUND) m = new Matcher(prog);
    } catch (e) {
      if (!(e instanceof ProgramTooLarge)) throw e;
    }
    this.matcherCache.set(source, m);
    return m;
  }

  private addAtom(atom: number[], t: Target): void {
    this.atoms.add(atom, t);
  }

  private addString(s: CompiledString, sid: number): void {
    if (s.literals) {
      s.literals.forEach((lit, i) => {
        const t: LitTarget = {
          kind: 0,
          sid,
          at: this.poolAddText(lit.bytes, lit.nocase),
          len: lit.bytes.length,
          nocase: lit.nocase,
          xorKey: lit.xorKey,
          atomOffset: lit.atomOffset,
          wide: s.wideForms[i] ?? false,
          fullword: s.fullword,
        };
        for (const atom of uniqueAtoms(lit.atoms)) this.addAtom(atom, t);
      });
    }
    if (s.regexes) {
      s.regexes.forEach((r, form) => {
        const wide = s.wideForms[form] ?? false;
        if (!r.atoms) {
          this.atomless.push({
            sid,
            re: this.regex(r.source, "g"),
            m: undefined,
            src: r.source,
            hwSlot: this.hwSlots++,
            fullword: s.fullword,
            wide,
            unlimited: !!r.literal,
          });
          return;
        }
        if (r.masked) {
          const value = Buffer.from(r.masked.value, "hex"),
            mask = Buffer.from(r.masked.mask, "hex");
          const vAt = this.poolAdd(value),
            mAt = this.poolAdd(mask);
          for (const a of r.atoms) {
            const t: MaskTarget = {
              kind: 2,
              sid,
              value: vAt,
              mask: mAt,
              len: value.length,
              prefix: a.prefixMin,
              fullword: s.fullword,
              wide,
            };
            for (const v of uniqueAtoms(a.variants)) this.addAtom(v, t);
          }
          return;
        }
        const re = this.regex(r.source, "y");
        for (const a of r.atoms) {
          const t: ReTarget = {
            kind: 1,
            sid,
            form,
            re,
            prefixMin: a.prefixMin,
            prefixMax: a.prefixMax ?? REGEX_BACKWARD_LIMIT,
            hwSlot: this.hwSlots++,
            fullword: s.fullword,
            wide,
            maxLength: r.maxLength,
            anchored: !!r.anchored,
            unlimited: !!r.literal,
            m: undefined,
            src: r.source,
          };
          for (const v of uniqueAtoms(a.variants)) this.addAtom(v, t);
        }
      });
    }
  }

  /** An empty profile for ScanOptions.profile. */
  newProfile(): ScanProfile {
    const k = this.stringCount;
    return { time: new Float64Array(k), verifications: new Float64Array(k), starts: new Float64Array(k) };
  }

  /** The `top` most expensive strings of a profile, slowest first, with their rules. */
  profileReport(profile: ScanProfile, top = 10): ProfileRow[] {
    const owner = new Int32Array(this.stringCount).fill(-1);
    this.data.rules.forEach((r, i) => {
      for (const sid of r.strings) owner[sid] = i;
    });
    const sids = [...profile.time.keys()].filter((sid) => profile.verifications[sid]! > 0);
    sids.sort((a, b) => profile.time[b]! - profile.time[a]! || profile.verifications[b]! - profile.verifications[a]!);
    return sids.slice(0, top).map((sid) => {
      const rule = owner[sid]! >= 0 ? this.data.rules[owner[sid]!] : undefined;
      const id = this.data.strings[sid]!.id;
      return {
        rule: rule?.name ?? "?",
        namespace: rule?.namespace ?? "?",
        string: id.startsWith("$\0") ? "$" : id,
        ms: profile.time[sid]!,
        verifications: profile.verifications[sid]!,
        starts: profile.starts[sid]!,
      };
    });
  }

  get ruleCount(): number {
    return this.data.rules.length;
  }

  serialize(): Uint8Array {
    if (this.serialized) return this.serialized;
    this.dropAtoms(false);
    try {
      return Buffer.from(JSON.stringify({ ...this.data, warnings: this.warnings }), "utf8");
    } finally {
      this.dropAtoms(true);
    }
  }

  /** Scans `bytes` and returns the matching rules (and module data, console output, warnings). */
  scan(bytes: Uint8Array, options: ScanOptions = {}): ScanResult {
    let deadline = options.timeoutMs !== undefined ? Date.now() + options.timeoutMs : Infinity;
    /** where a time-out stopped the scan: in the string search (match lists incomplete) or in the conditions. */
    let stopped: "strings" | "conditions" | undefined;
    const n = bytes.length;
    // per-string match lists, reused from scan to scan (scans of one CompiledRules are sequential)
    const mo: number[][] = (this.moBuf ??= new Array(this.stringCount));
    const ml: number[][] = (this.mlBuf ??= new Array(this.stringCount));
    const mx: Array<Array<number | null> | undefined> = []; // xor keys, only for strings that need them
    // rank of the form that matched (0 ascii, 1 wide): at one offset YARA keeps the ascii match
    const mr: Array<number[] | undefined> = [];
    // strings without matches share one empty list; a list is allocated at the first match
    mo.fill(NO_MATCHES);
    ml.fill(NO_MATCHES);
    const hw = new Int32Array(this.hwSlots).fill(-1);
    let text: string | null = null;
    const getText = () => (text ??= latin1(bytes));
    const warnings: string[] = [];
    const overflowed = new Set<number>();
    // when no string matches are listed, a string the conditions only test for existence is
    // looked for until its first match: done[sid] is 1 from then on
    const done = this.doneBuf;
    done.fill(0);
    const firstOnly = options.strings === false ? this.existsOnly : null;

    const record = (sid: number, start: number, len: number, xorKey: number | null, wide: boolean) => {
      if (done[sid] === 1) return;
      if (firstOnly !== null && firstOnly[sid] === 1) done[sid] = 1;
      let offs = mo[sid]!;
      if (offs === NO_MATCHES) {
        offs = mo[sid] = [];
        ml[sid] = [];
      }
      if (offs.length >= MAX_MATCHES_PER_STRING) {
        overflowed.add(sid);
        return;
      }
      if (wide) (mr[sid] ??= new Array(offs.length).fill(0)).push(1);
      else if (mr[sid]) mr[sid]!.push(0);
      offs.push(start);
      ml[sid]!.push(len);
      if (xorKey !== null) (mx[sid] ??= new Array(offs.length - 1).fill(null)).push(xorKey);
      else if (mx[sid]) mx[sid]!.push(null);
    };

    const fullwordOk = (start: number, end: number, wide: boolean): boolean => {
      if (wide) {
        if (start >= 2 && bytes[start - 1] === 0 && isAlnum(bytes[start - 2]!)) return false;
        if (end + 1 < n && bytes[end + 1] === 0 && isAlnum(bytes[end]!)) return false;
        return true;
      }
      if (start >= 1 && isAlnum(bytes[start - 1]!)) return false;
      if (end < n && isAlnum(bytes[end]!)) return false;
      return true;
    };

    // per matcher slot: the filter's progress (threads started at or after fFrom, data read up
    // to fPos, state fState of DFA generation fGen)
    const slots = this.hwSlots;
    const fFrom = new Float64Array(slots).fill(-1),
      fPos = new Float64Array(slots),
      fState = new Int32Array(slots),
      fGen = new Int32Array(slots);
    const stats = this.stats;
    const prof = options.profile;
    const epoch = newEpoch();
    stats.verifications = 0;
    stats.starts = 0;

    /**
     * Every match of matcher `m` starting in [lo, hi] (each within RE_SCAN_LIMIT bytes of its
     * start unless `unlimited`), recorded for string `sid`. When the pattern is long or the
     * region wide, the unanchored filter first reads the data the matches could cover, going on
     * from where it stopped for this slot's previous region: no match there, no start to try.
     */
    const runMatcher = (
      m: Matcher,
      slot: number,
      sid: number,
      lo: number,
      hi: number,
      maxLength: number | null,
      unlimited: boolean,
      fullword: boolean,
      wide: boolean,
    ): void => {
      const f = m.filter;
      if (f !== null && (maxLength === null || maxLength > FILTER_MIN_LENGTH || hi - lo >= FILTER_MIN_STARTS)) {
        const reach = Math.min(n, hi + (unlimited && maxLength !== null ? maxLength : RE_SCAN_LIMIT));
        let from = fFrom[slot]!,
          pos = fPos[slot]!,
          st = fState[slot]!;
        if (from < 0 || from > lo || lo - pos > RE_SCAN_LIMIT || fGen[slot] !== f.generation) {
          from = lo;
          pos = lo;
          st = f.start;
        }
        if (pos >= reach) {
          fFrom[slot] = from;
          return;
        }
        const e = f.scan(bytes, st, pos, reach);
        if (e < 0) {
          // no match ends in [from, reach): none starts in [lo, hi]
          fFrom[slot] = from;
          fPos[slot] = reach;
          fState[slot] = f.lastState;
          fGen[slot] = f.generation;
          return;
        }
        fFrom[slot] = -1; // a match may start here: try each start, then restart the filter after hi
      }
      const found = (s: number, len: number) => {
        if (fullword && !fullwordOk(s, s + len, wide)) return;
        record(sid, s, len, null, wide);
      };
      const window = unlimited ? Infinity : RE_SCAN_LIMIT;
      stats.starts += hi - lo + 1;
      // 256 starts at a time, with a look at the clock in between
      for (let s = lo; s <= hi; s += 256) {
        if (done[sid] === 1) break;
        if (s > lo && Date.now() > deadline) {
          hw[slot] = s - 1;
          throw new ScanError("SCAN_TIMEOUT", "scan timed out");
        }
        m.matchRange(bytes, s, Math.min(hi, s + 255), window, found, epoch);
      }
    };

    const pool = this.pool;
    const verifyOne = (t: Target, atomPos: number): void => {
      if (done[t.sid] === 1) return;
      if (t.kind === 0) {
        const start = atomPos - t.atomOffset;
        const len = t.len;
        if (start < 0 || start + len > n) return;
        let ok = true;
        const at = t.at;
        if (t.nocase) {
          for (let j = 0; j < len; j++)
            if (lowerByte(bytes[start + j]!) !== pool[at + j]) {
              ok = false;
              break;
            }
        } else {
          for (let j = 0; j < len; j++)
            if (bytes[start + j] !== pool[at + j]) {
              ok = false;
              break;
            }
        }
        if (!ok || (t.fullword && !fullwordOk(start, start + len, t.wide))) return;
        record(t.sid, start, len, t.xorKey, t.wide);
      } else if (t.kind === 2) {
        const start = atomPos - t.prefix;
        const len = t.len;
        if (start < 0 || start + len > n) return;
        const val = t.value,
          mask = t.mask;
        let ok = true;
        for (let j = 0; j < len; j++)
          if ((bytes[start + j]! & pool[mask + j]!) !== pool[val + j]) {
            ok = false;
            break;
          }
        if (!ok || (t.fullword && !fullwordOk(start, start + len, t.wide))) return;
        record(t.sid, start, len, null, t.wide);
      } else {
        let lo = atomPos - t.prefixMax;
        const hi = atomPos - t.prefixMin;
        if (lo <= hw[t.hwSlot]!) lo = hw[t.hwSlot]! + 1;
        if (lo < 0) lo = 0;
        if (hi < lo) return;
        const tm = t.m === undefined ? (t.m = this.matcherFor(t.src)) : t.m;
        if (tm !== null) {
          runMatcher(tm, t.hwSlot, t.sid, lo, hi, t.maxLength, t.unlimited, t.fullword, t.wide);
          hw[t.hwSlot] = hi;
          return;
        }
        // a pattern of bounded length without anchors runs over a window of the data, so a
        // few candidates in a large file do not cost a conversion of the whole file
        let str: string,
          base = 0;
        if (text === null && !t.anchored && t.maxLength !== null && t.maxLength <= 4096 && n > 65536) {
          base = lo;
          str = latin1(bytes.subarray(lo, Math.min(n, hi + t.maxLength)));
        } else str = getText();
        const re = t.re;
        for (let s = lo; s <= hi; s++) {
          if (done[t.sid] === 1) break;
          // one exec can take long (backtracking): look at the clock every 64 start positions
          if (((s - lo) & 63) === 63 && Date.now() > deadline) {
            hw[t.hwSlot] = s - 1;
            throw new ScanError("SCAN_TIMEOUT", "scan timed out");
          }
          re.lastIndex = s - base;
          const m = re.exec(str);
          if (m !== null && m[0].length > 0) {
            let len = m[0].length;
            // yara's limit counts from its atom; the native ClamAV body store (scanner/bodydb)
            // agrees with this engine on a limit counted from the start of the match, kept here
            if (!t.unlimited && len > RE_SCAN_LIMIT) {
              len = limitedMatch(bytes, s, re);
              if (len === 0) continue;
            }
            if (t.fullword && !fullwordOk(s, s + len, t.wide)) continue;
            record(t.sid, s, len, null, t.wide);
          }
        }
        hw[t.hwSlot] = hi;
        if (Date.now() > deadline) throw new ScanError("SCAN_TIMEOUT", "scan timed out");
      }
    };
    const verify = prof
      ? (targets: Target[], atomPos: number) => {
          for (let k = 0; k < targets.length; k++) {
            const t = targets[k]!;
            const t0 = performance.now();
            const before = stats.starts;
            try {
              verifyOne(t, atomPos);
            } finally {
              prof.time[t.sid]! += performance.now() - t0;
              prof.verifications[t.sid]!++;
              prof.starts[t.sid]! += stats.starts - before;
            }
          }
        }
      : (targets: Target[], atomPos: number) => {
          stats.verifications += targets.length;
          for (let k = 0; k < targets.length; k++) verifyOne(targets[k]!, atomPos);
        };

    // ---- the single pass over the data, a window at a time, then verification at the hits ----
    const atoms = this.atoms,
      hits = this.hits;
    const WINDOW = 1 << 20;
    try {
      for (let base = 0; base < n; base += WINDOW) {
        const end = Math.min(n, base + WINDOW);
        atoms.find(bytes, base, end, hits);
        const hp = hits.pos,
          hl = hits.len,
          hn = hits.n;
        for (let k = 0; k < hn; k++) {
          const ts = atoms.targets(bytes, hp[k]!, hl[k]!);
          if (ts !== undefined) verify(ts, hp[k]!);
        }
        if (Date.now() > deadline) throw new ScanError("SCAN_TIMEOUT", "scan timed out");
      }
      const searchAtomless = (a: CompiledRules["atomless"][number]): void => {
        if (a.m === undefined) a.m = this.matcherFor(a.src);
        if (a.m !== null) {
          // every start, a block at a time (the filter goes on from block to block)
          for (let lo = hw[a.hwSlot]! + 1; lo < n; lo += 4096) {
            if (done[a.sid] === 1) return;
            const hi = Math.min(n - 1, lo + 4095);
            runMatcher(a.m, a.hwSlot, a.sid, lo, hi, null, a.unlimited, a.fullword, a.wide);
            hw[a.hwSlot] = hi;
            if (Date.now() > deadline) throw new ScanError("SCAN_TIMEOUT", "scan timed out");
          }
          return;
        }
        const str = getText();
        const re = a.re;
        re.lastIndex = 0;
        let guard = 0;
        for (;;) {
          if (done[a.sid] === 1) break;
          const m = re.exec(str);
          if (m === null) break;
          let len = m[0].length;
          if (len > RE_SCAN_LIMIT && !a.unlimited) len = limitedMatch(bytes, m.index, a.re);
          if (len > 0 && (!a.fullword || fullwordOk(m.index, m.index + len, a.wide)))
            record(a.sid, m.index, len, null, a.wide);
          re.lastIndex = m.index + 1;
          if (++guard % 4096 === 0 && Date.now() > deadline) throw new ScanError("SCAN_TIMEOUT", "scan timed out");
          if (m.index + 1 > n) break;
        }
      };
      for (const a of this.atomless) {
        if (n === 0) break;
        const t0 = prof ? performance.now() : 0;
        const before = stats.starts;
        if (prof) prof.verifications[a.sid]!++;
        try {
          searchAtomless(a);
        } finally {
          if (prof) {
            prof.time[a.sid]! += performance.now() - t0;
            prof.starts[a.sid]! += stats.starts - before;
          }
        }
      }
    } catch (e) {
      if (!(e instanceof ScanError && e.code === "SCAN_TIMEOUT")) throw e;
      // keep what was found: the conditions still run, on the matches recorded so far, with a
      // short grace period of their own, and only rules that more matches cannot undo count
      stopped = "strings";
      deadline = Date.now() + Math.min(options.timeoutMs ?? 0, CONDITION_GRACE_MS);
    }
    // sort and deduplicate match lists
    for (let sid = 0; sid < this.stringCount; sid++) {
      const offs = mo[sid]!;
      if (offs.length < 2) continue;
      let sorted = true;
      for (let i = 1; i < offs.length; i++)
        if (offs[i]! <= offs[i - 1]!) {
          sorted = false;
          break;
        }
      if (sorted) continue;
      const lens = ml[sid]!,
        xs = mx[sid],
        rk = mr[sid];
      // sort by offset, then form rank (ascii before wide); numeric keys in a typed array sort
      // natively (exact below 4 GiB offsets and 2^20 matches); among equal keys keep the longest
      const count = offs.length;
      const keys = new Float64Array(count);
      for (let i = 0; i < count; i++) keys[i] = (offs[i]! * 2 + (rk ? rk[i]! : 0)) * 1048576 + i;
      keys.sort();
      const no: number[] = [],
        nl: number[] = [],
        nx: Array<number | null> = [];
      for (let k = 0; k < count; k++) {
        const i = keys[k]! % 1048576;
        if (no.length && no[no.length - 1] === offs[i]) {
          const prevKey = Math.floor(keys[k - 1]! / 1048576),
            key = Math.floor(keys[k]! / 1048576);
          if (prevKey === key && lens[i]! > nl[nl.length - 1]!) {
            nl[nl.length - 1] = lens[i]!;
            if (xs) nx[nx.length - 1] = xs[i]!;
          }
          continue;
        }
        no.push(offs[i]!);
        nl.push(lens[i]!);
        if (xs) nx.push(xs[i]!);
      }
      mo[sid] = no;
      ml[sid] = nl;
      if (xs) mx[sid] = nx;
    }
    for (const sid of overflowed)
      warnings.push(
        `string ${this.data.strings[sid]!.id} has more than ${MAX_MATCHES_PER_STRING} matches: the rest were not recorded`,
      );

    // ---- modules ----
    const consoleOut: string[] = [];
    const cache = new Map<string, unknown>();
    const makeCtx = (moduleName: string): ScanContext => ({
      data: bytes,
      text: getText,
      moduleData: options.moduleData?.[moduleName],
      cache,
      log: options.log ?? ((m: string) => consoleOut.push(m)),
    });
    const roots: Record<string, Record<string, unknown>> = {};
    const ctxs: Record<string, ScanContext> = {};
    for (const name of this.data.modules) {
      const mod = builtinModules.get(name)!;
      ctxs[name] = makeCtx(name);
      try {
        roots[name] = mod.load(ctxs[name]!);
      } catch (e) {
        roots[name] = {};
        warnings.push(`module ${name} failed on this data: ${(e as Error).message}`);
      }
    }
    let epCache: number | undefined | null = null;
    const ep = () => {
      if (epCache !== null) return epCache;
      epCache = undefined;
      for (const name of ["pe", "elf"]) {
        const mod = builtinModules.get(name);
        if (!mod?.entrypoint) continue;
        try {
          const root = roots[name] ?? mod.load(makeCtx(name));
          const e = mod.entrypoint(root);
          if (e !== undefined) {
            epCache = e;
            break;
          }
        } catch {
          /* malformed: no entry point */
        }
      }
      return epCache;
    };
    const fn = this.fnImpls.map(({ impl, module }) => {
      const ctx = ctxs[module] ?? makeCtx(module);
      return (self: any, ...args: any[]) => (self === undefined ? undefined : impl(self, ctx, ...args));
    });
    const externals = new Map(this.externalsDefault);
    if (options.externals)
      for (const [k, v] of Object.entries(options.externals)) if (externals.has(k)) externals.set(k, v);
    const ext: Record<string, ExternalValue> = Object.create(null);
    for (const [k, v] of externals)
      ext[k] = typeof v === "bigint" && v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;

    const rules = this.data.rules;
    const r = new Uint8Array(rules.length);
    const tick = () => {
      if (Date.now() > deadline) throw new ScanError("SCAN_TIMEOUT", "scan timed out");
    };
    const c: MatchLists & Record<string, unknown> = { mo, ml, r, size: n, data: bytes, ext, m: roots, fn, ep, tick };
    // rules before `evaluated` have a result in r
    let evaluated = 0;
    try {
      for (; evaluated < rules.length; evaluated++) {
        const i = evaluated;
        if ((i & 255) === 0 && Date.now() > deadline) throw new ScanError("SCAN_TIMEOUT", "scan timed out");
        let v: unknown;
        const rule = rules[i]!;
        // a rule whose condition cannot be true without a string match is skipped when none matched
        if (rule.needsStrings && !helpers.anyMatched(c, rule.strings)) {
          r[i] = 0;
          continue;
        }
        try {
          v = this.conditions[i]!(c);
        } catch (e) {
          if (e instanceof ScanError) throw e;
          warnings.push(`rule ${rules[i]!.name}: condition failed: ${(e as Error).message}`);
          v = false;
        }
        r[i] = v === true ? 1 : 0;
      }
    } catch (e) {
      if (!(e instanceof ScanError && e.code === "SCAN_TIMEOUT")) throw e;
      stopped ??= "conditions";
    }
    // after a time-out: a result is exact when the rule ran on complete match lists, and a true
    // result is sure when it is exact or the rule is monotone (more matches cannot undo it)
    const exact = (i: number) => i < evaluated && stopped !== "strings";
    const sure = (i: number) => r[i] === 1 && i < evaluated && (stopped !== "strings" || rules[i]!.monotone === true);
    // global rules: a false global rule makes every rule of its namespace false; one whose
    // result is not sure leaves the namespace's rules unknown
    const failedNs = new Set<string>(),
      unknownNs = new Set<string>();
    for (let i = 0; i < rules.length; i++) {
      if (!rules[i]!.global) continue;
      if (exact(i) && r[i] === 0) failedNs.add(rules[i]!.namespace);
      else if (!sure(i)) unknownNs.add(rules[i]!.namespace);
    }

    const wantData = options.matchData !== false;
    const matches: RuleMatch[] = [];
    const nonMatching: NonNullable<ScanResult["nonMatching"]> = [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (rule.private) continue;
      const matched = sure(i) && !failedNs.has(rule.namespace) && !unknownNs.has(rule.namespace);
      if (!matched && !options.reportNonMatching) continue;
      // after a time-out, only rules known not to match are listed as not matching
      if (!matched && stopped && !failedNs.has(rule.namespace) && !(exact(i) && r[i] === 0)) continue;
      const metaList = rule.meta.map(
        ([k, v]) => [k, typeof v === "object" ? BigInt(v.bigint) : v] as [string, string | number | bigint | boolean],
      );
      const meta: Record<string, string | number | bigint | boolean> = {};
      for (const [k, v] of metaList) if (!(k in meta)) meta[k] = v;
      if (!matched) {
        if (options.reportNonMatching)
          nonMatching.push({ rule: rule.name, namespace: rule.namespace, tags: rule.tags, meta, metaList });
        continue;
      }
      if (options.maxRules !== undefined && matches.length >= options.maxRules) continue;
      const strings: RuleMatch["strings"] = [];
      for (const sid of options.strings === false ? [] : rule.strings) {
        const s = this.data.strings[sid]!;
        if (s.private) continue;
        const offs = mo[sid]!,
          lens = ml[sid]!,
          xs = mx[sid];
        const list: StringMatch[] = [];
        // one copy of the matched region, shared by the matches' data views
        let backing: Uint8Array = NO_DATA,
          backingStart = 0;
        if (wantData && offs.length > 0) {
          let end = 0;
          for (let j = 0; j < offs.length; j++) end = Math.max(end, offs[j]! + Math.min(lens[j]!, MAX_MATCH_DATA));
          backingStart = offs[0]!;
          backing = bytes.slice(backingStart, end);
        }
        for (let j = 0; j < offs.length; j++) {
          const from = offs[j]! - backingStart;
          const data = wantData ? backing.subarray(from, from + Math.min(lens[j]!, MAX_MATCH_DATA)) : NO_DATA;
          const m: StringMatch = { offset: offs[j]!, length: lens[j]!, data };
          const x = xs?.[j];
          if (x !== null && x !== undefined) m.xorKey = x;
          list.push(m);
        }
        strings.push({ identifier: s.id.startsWith("$\0") ? "$" : s.id, matches: list });
      }
      matches.push({ rule: rule.name, namespace: rule.namespace, tags: rule.tags, meta, metaList, strings });
    }
    const result: ScanResult = { matches, moduleData: roots, console: consoleOut, warnings };
    if (options.reportNonMatching) result.nonMatching = nonMatching;
    if (stopped)
      throw new ScanError(
        "SCAN_TIMEOUT",
        `scan timed out (in the ${stopped === "strings" ? "string search" : "conditions"}); ${matches.length} rule(s) known to match before`,
        { partial: result },
      );
    return result;
  }
}

function uniqueAtoms(atoms: number[][]): number[][] {
  if (atoms.length < 2) return atoms;
  const seen = new Set<string>();
  return atoms.filter((a) => {
    const k = a.join(",");
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function _push(map: Map<number, Target[]>, key: number, t: Target): void {
  const list = map.get(key);
  if (list) list.push(t);
  else map.set(key, [t]);
}

/** What dropAtoms leaves in place of atoms (an atom list is never empty otherwise). */
const DROPPED_ATOMS: number[][] = Object.freeze([]) as unknown as number[][];
const DROPPED_PATTERN_ATOMS = Object.freeze([]) as unknown as NonNullable<
  NonNullable<CompiledString["regexes"]>[number]["atoms"]
>;

/** Loads rules serialised by `CompiledRules.serialize()` without recompiling them. */
export function loadRules(serialized: Uint8Array | string): CompiledRules {
  let parsed: RuleSetData & { warnings?: CompiledRules["warnings"] };
  try {
    const text =
      typeof serialized === "string"
        ? serialized
        : Buffer.from(serialized.buffer, serialized.byteOffset, serialized.byteLength).toString("utf8");
    parsed = JSON.parse(text);
  } catch (e) {
    throw new LoadError("LOAD_FORMAT", "not a Vigil compiled rules file (it is not valid JSON)", { cause: e });
  }
  if (!parsed || typeof parsed !== "object") throw new LoadError("LOAD_FORMAT", "not a Vigil compiled rules file");
  const { warnings, ...data } = parsed;
  const bytes = typeof serialized === "string" ? undefined : serialized;
  return new CompiledRules(data as RuleSetData, warnings ?? [], bytes);
}
