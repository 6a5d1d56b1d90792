/**
 * The byte-level matcher: a pattern AST (regex.ts) -> a small instruction program (Thompson
 * NFA) -> matches, in time linear in the input for every pattern.
 *
 * Two executions of one program:
 * - a lazy DFA (RE2-style): a state is the *ordered* list of NFA threads after epsilon closure,
 *   cut after the first thread that has matched, so that walking it gives the same match as a
 *   backtracking engine (leftmost-first: greedy and lazy quantifiers and alternation order are
 *   kept). States and transitions are built on demand and cached; when the cache grows past
 *   its budget it is dropped and rebuilt, so memory stays bounded and time stays linear.
 * - a Pike VM for programs with assertions (^ $ \b \B), which look at bytes around the thread.
 * An unanchored variant of the DFA (threads may start at any byte; assertions relaxed to
 * "true") is a cheap filter: when it reaches no match over a region, no match starts there.
 */
import { type ReNode, setHas } from "./regex.js";

const OP_SET = 0;
const OP_SPLIT = 1;
const OP_JMP = 2;
const OP_MATCH = 3;
const OP_ASSERT = 4;
/**
 * Around the body of an optional iteration that can match the empty string: as in ECMAScript
 * (and so as in the RegExp path this replaces), an optional iteration that consumed nothing
 * fails. A closure path that enters the body (ITER_IN) and leaves it (ITER_OUT) without reading
 * a byte is dropped. The one bit a path carries ("the innermost such body around me was
 * entered in this closure") is enough: leaving an inner body with the bit set kills the path.
 */
const OP_ITER_IN = 5;
const OP_ITER_OUT = 6;

const A_BOL = 0;
const A_EOL = 1;
const A_WORDB = 2;
const A_NWORDB = 3;
/** the boundaries of a wide regex: between two-byte characters (a word byte then a zero byte). */
const A_WORDB_WIDE = 4;
const A_NWORDB_WIDE = 5;

/** The most instructions a program may have (a counted repetition expands its body). */
export const MAX_PROGRAM = 65536;

export class ProgramTooLarge extends Error {}

export interface Program {
  op: Int32Array;
  x: Int32Array;
  y: Int32Array;
  /** membership tables, 256 bytes per set, for OP_SET (x = set index * 256). */
  sets: Uint8Array;
  hasAssert: boolean;
  /** the pattern can match the empty string. */
  nullable: boolean;
}

/** Compiles a pattern AST to a program. Throws ProgramTooLarge past `limit` instructions. */
export function compileProgram(node: ReNode, limit = MAX_PROGRAM): Program {
  const op: number[] = [];
  const x: number[] = [];
  const y: number[] = [];
  const setTables: Uint8Array[] = [];
  const setIds = new Map<Uint32Array, number>();
  const setKeys = new Map<string, number>();
  let hasAssert = false;
  const emit = (o: number, a = 0, b = 0): number => {
    if (op.length >= limit) throw new ProgramTooLarge(`the pattern needs more than ${limit} instructions`);
    op.push(o);
    x.push(a);
    y.push(b);
    return op.length - 1;
  };
  const setId = (bits: Uint32Array): number => {
    let id = setIds.get(bits);
    if (id !== undefined) return id;
    const key = Array.from(bits).join(",");
    id = setKeys.get(key);
    if (id === undefined) {
      const t = new Uint8Array(256);
      for (let b = 0; b < 256; b++) if (setHas(bits, b)) t[b] = 1;
      id = setTables.length;
      setTables.push(t);
      setKeys.set(key, id);
    }
    setIds.set(bits, id);
    return id;
  };
  // explicit work stack instead of recursion: deeply nested patterns do not overflow
  /** an optional iteration of `n`, with the empty-iteration check when `n` can match empty. */
  const genIter = (n: ReNode, depth: number): void => {
    const empty = canBeEmpty(n);
    if (empty) emit(OP_ITER_IN);
    gen(n, depth + 1);
    if (empty) emit(OP_ITER_OUT);
  };
  const gen = (n: ReNode, depth: number): void => {
    if (depth > 1000) throw new ProgramTooLarge("the pattern is nested too deeply");
    switch (n.t) {
      case "set":
        emit(OP_SET, setId(n.bits) * 256);
        return;
      case "cat":
        for (const it of n.items) gen(it, depth + 1);
        return;
      case "alt": {
        const jumps: number[] = [];
        for (let k = 0; k < n.alts.length - 1; k++) {
          const sp = emit(OP_SPLIT);
          x[sp] = op.length;
          gen(n.alts[k]!, depth + 1);
          jumps.push(emit(OP_JMP));
          y[sp] = op.length;
        }
        gen(n.alts[n.alts.length - 1]!, depth + 1);
        for (const j of jumps) x[j] = op.length;
        return;
      }
      case "rep": {
        for (let k = 0; k < n.min; k++) gen(n.node, depth + 1);
        if (n.max === null) {
          const l = emit(OP_SPLIT);
          genIter(n.node, depth);
          emit(OP_JMP, l);
          const exit = op.length;
          if (n.greedy) {
            x[l] = l + 1;
            y[l] = exit;
          } else {
            x[l] = exit;
            y[l] = l + 1;
          }
          return;
        }
        const splits: number[] = [];
        for (let k = n.min; k < n.max; k++) {
          splits.push(emit(OP_SPLIT));
          genIter(n.node, depth);
        }
        const exit = op.length;
        for (const sp of splits) {
          if (n.greedy) {
            x[sp] = sp + 1;
            y[sp] = exit;
          } else {
            x[sp] = exit;
            y[sp] = sp + 1;
          }
        }
        return;
      }
      case "bol":
        hasAssert = true;
        emit(OP_ASSERT, A_BOL);
        return;
      case "eol":
        hasAssert = true;
        emit(OP_ASSERT, A_EOL);
        return;
      case "wordb":
        hasAssert = true;
        emit(OP_ASSERT, n.wide ? A_WORDB_WIDE : A_WORDB);
        return;
      case "nwordb":
        hasAssert = true;
        emit(OP_ASSERT, n.wide ? A_NWORDB_WIDE : A_NWORDB);
        return;
    }
  };
  gen(node, 0);
  emit(OP_MATCH);
  const sets = new Uint8Array(setTables.length * 256);
  setTables.forEach((t, i) => sets.set(t, i * 256));
  const prog: Program = {
    op: Int32Array.from(op),
    x: Int32Array.from(x),
    y: Int32Array.from(y),
    sets,
    hasAssert,
    nullable: false,
  };
  prog.nullable = nullable(prog);
  return prog;
}

/** True when the node can match without consuming a byte. */
function canBeEmpty(n: ReNode): boolean {
  switch (n.t) {
    case "set":
      return false;
    case "cat":
      return n.items.every(canBeEmpty);
    case "alt":
      return n.alts.some(canBeEmpty);
    case "rep":
      return n.min === 0 || canBeEmpty(n.node);
    default:
      return true;
  }
}

/** True when MATCH is reachable from the start without consuming a byte (assertions taken as true). */
function nullable(p: Program): boolean {
  const seen = new Uint8Array(p.op.length);
  const stack = [0];
  while (stack.length) {
    const pc = stack.pop()!;
    if (seen[pc]) continue;
    seen[pc] = 1;
    const o = p.op[pc]!;
    if (o === OP_MATCH) return true;
    if (o === OP_JMP) stack.push(p.x[pc]!);
    else if (o === OP_SPLIT) stack.push(p.y[pc]!, p.x[pc]!);
    else if (o !== OP_SET) stack.push(pc + 1); // assertions and ITER marks consume nothing
  }
  return false;
}

const isWord = (b: number): boolean =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f;

let epochs = 0;
/** A new data epoch: pass one per scanned buffer to matchRange (its memo is valid within one only). */
export function newEpoch(): number {
  return ++epochs;
}

/** Budget of a DFA cache: states and the total length of their thread lists. */
const MAX_STATES = 2048;
const MAX_THREADS_CACHED = 1 << 20;

/**
 * A lazily built DFA over a program. Anchored: leftmost-first thread order, a state is cut
 * after its first MATCH. Unanchored (the filter): a new thread starts at every byte, lists are
 * sets (sorted), assertions count as true.
 */
export class LazyDfa {
  private lists: Int32Array[] = [];
  private trans = new Int32Array(0);
  /** bit 1: the state contains MATCH; bit 2: MATCH is its first thread (nothing better can follow). */
  flags = new Uint8Array(0);
  private ids = new Map<string, number>();
  private threads = 0;
  /** changes whenever the cache is dropped (state ids from before are then invalid). */
  generation = 0;
  start = 0;
  static readonly DEAD = 0;
  private mark: Int32Array;
  private markGen = 0;
  private stack: number[] = [];
  private scratch: number[] = [];

  constructor(
    readonly prog: Program,
    readonly unanchored: boolean,
  ) {
    this.mark = new Int32Array(prog.op.length * 2);
    this.reset();
  }

  private reset(): void {
    this.lists = [];
    this.ids.clear();
    this.threads = 0;
    this.trans = new Int32Array(256 * 8).fill(-1); // grows by doubling: most patterns need a few states
    this.flags = new Uint8Array(8);
    this.generation++;
    this.intern([]); // 0: dead
    const out: number[] = [];
    this.markGen++;
    this.closure(0, out);
    if (this.unanchored) out.sort((a, b) => a - b);
    this.start = this.intern(out);
  }

  /** Adds the threads reachable from `pc` without consuming a byte, in priority order. */
  private closure(pc0: number, out: number[]): boolean {
    const { op, x, y } = this.prog;
    const mark = this.mark,
      g = this.markGen,
      stack = this.stack;
    stack.length = 0;
    stack.push(pc0 * 2);
    // entries are pc * 2 + the ITER bit (see OP_ITER_IN)
    while (stack.length) {
      const e = stack.pop()!;
      const pc = e >> 1,
        f = e & 1;
      const o = op[pc]!;
      const key = o === OP_SET || o === OP_MATCH ? pc * 2 : e;
      if (mark[key] === g) continue;
      mark[key] = g;
      if (o === OP_SET) out.push(pc);
      else if (o === OP_MATCH) {
        out.push(pc);
        if (!this.unanchored) return true; // lower-priority threads are cut
      } else if (o === OP_JMP) stack.push(x[pc]! * 2 + f);
      else if (o === OP_SPLIT) stack.push(y[pc]! * 2 + f, x[pc]! * 2 + f);
      else if (o === OP_ITER_IN) stack.push((pc + 1) * 2 + 1);
      else if (o === OP_ITER_OUT) {
        if (f === 0 || this.unanchored) stack.push((pc + 1) * 2);
      } else stack.push((pc + 1) * 2 + f); // assertions: only in the relaxed (filter) program
    }
    return false;
  }

  private intern(list: number[]): number {
    const key = list.join(",");
    const got = this.ids.get(key);
    if (got !== undefined) return got;
    const id = this.lists.length;
    this.lists.push(Int32Array.from(list));
    this.ids.set(key, id);
    this.threads += list.length;
    if ((id + 1) * 256 > this.trans.length) {
      const t = new Int32Array(this.trans.length * 2).fill(-1);
      t.set(this.trans);
      this.trans = t;
      const f = new Uint8Array(this.flags.length * 2);
      f.set(this.flags);
      this.flags = f;
    }
    let fl = 0;
    const op = this.prog.op;
    for (let k = 0; k < list.length; k++)
      if (op[list[k]!] === OP_MATCH) {
        fl |= 1;
        if (k === 0) fl |= 2;
        break;
      }
    this.flags[id] = fl;
    return id;
  }

  /** The state after `s` reads byte `b` (built on first use). */
  next(s: number, b: number): number {
    const t = this.trans[s * 256 + b]!;
    if (t >= 0) return t;
    return this.build(s, b);
  }

  private build(s: number, b: number): number {
    const { op, x, sets } = this.prog;
    const list = this.lists[s]!;
    const out = this.scratch;
    out.length = 0;
    this.markGen++;
    if (this.markGen === 0x7fffffff) {
      this.mark.fill(0);
      this.markGen = 1;
    }
    for (let k = 0; k < list.length; k++) {
      const pc = list[k]!;
      if (op[pc] === OP_SET && sets[x[pc]! + b] === 1) {
        if (this.closure(pc + 1, out)) break;
      }
    }
    if (this.unanchored) {
      this.closure(0, out);
      out.sort((a, c) => a - c);
    }
    if (this.lists.length >= MAX_STATES || this.threads + out.length > MAX_THREADS_CACHED) {
      const keep = out.slice();
      this.reset();
      return this.intern(keep); // not cached as a transition: the old state is gone
    }
    const id = this.intern(out);
    this.trans[s * 256 + b] = id;
    return id;
  }

  /**
   * The leftmost-first match starting at `s` and ending at or before `end`: its length, or -1.
   * (Anchored DFAs only.)
   */
  matchAt(bytes: Uint8Array, s: number, end: number): number {
    let st = this.start;
    let fl = this.flags[st]!;
    let last = fl & 1 ? 0 : -1;
    if (fl & 2) return last;
    for (let p = s; p < end; p++) {
      let nx = this.trans[st * 256 + bytes[p]!]!;
      if (nx < 0) nx = this.build(st, bytes[p]!);
      st = nx;
      if (st === 0) break;
      fl = this.flags[st]!;
      if (fl & 1) {
        last = p + 1 - s;
        if (fl & 2) break;
      }
    }
    return last;
  }

  // memo of the previous start's run (matchRange): the state before each byte it read
  private memo = new Int32Array(0);
  private memoBase = 0;
  /** the run of start memoNext - 1 read [memoNext - 1, memoStop) and was still alive there (memoAlive) in memoStopState. */
  private memoNext = -1;
  private memoStop = 0;
  private memoStopState = 0;
  private memoAlive = false;
  private memoLast = -1;
  private memoGen = -1;
  /** the data the memo is about (see newEpoch): a memo never carries over to other bytes. */
  private memoEpoch = -1;

  /**
   * The leftmost-first match at every start in [lo, hi], each ending at or before
   * min(n, s + window) (window Infinity: n): calls found(start, length) for non-empty matches.
   * Consecutive starts share work: when the run of start s reaches the state the run of s - 1
   * had at the same byte, the rest of the run is the same, so it is taken from the memo (and
   * continued past the previous run's end when that run was cut by its window). On `.+X.+`
   * this makes the 4,096 starts before an atom cost about as much as one.
   */
  matchRange(
    bytes: Uint8Array,
    lo: number,
    hi: number,
    n: number,
    window: number,
    found: (start: number, length: number) => void,
    epoch: number,
  ): void {
    const span = hi - lo + 2 + Math.min(window, n - lo);
    if (
      this.memoNext !== lo ||
      this.memoGen !== this.generation ||
      this.memoEpoch !== epoch ||
      this.memo.length < span
    ) {
      this.memoEpoch = epoch;
      this.memoNext = -1;
      if (this.memo.length < span) this.memo = new Int32Array(Math.max(span, this.memo.length * 2));
      this.memoBase = lo;
    } else if (lo - this.memoBase + span > this.memo.length) {
      // slide the memo down so that it starts at lo
      this.memo.copyWithin(0, lo - this.memoBase, this.memoStop - this.memoBase);
      this.memoBase = lo;
    }
    const memo = this.memo;
    for (let s = lo; s <= hi; s++) {
      const end = Math.min(n, s + window);
      const usable = this.memoNext === s && this.memoGen === this.generation;
      const gen = this.generation;
      let st = this.start;
      let fl = this.flags[st]!;
      let last = fl & 1 ? s : -1;
      let alive = (fl & 2) === 0;
      let p = s;
      while (alive && p < end) {
        if (usable && p > s && p < this.memoStop && memo[p - this.memoBase] === st && this.generation === gen) {
          // converged with the previous run: its matches from p on are ours
          if (this.memoLast >= p) last = this.memoLast;
          if (!this.memoAlive) {
            alive = false;
            p = this.memoStop;
            st = this.memoStopState;
            break;
          }
          p = this.memoStop;
          st = this.memoStopState;
          if (p >= end) break;
        }
        memo[p - this.memoBase] = st;
        let nx = this.trans[st * 256 + bytes[p]!]!;
        if (nx < 0) nx = this.build(st, bytes[p]!);
        st = nx;
        p++;
        if (st === 0) {
          alive = false;
          break;
        }
        fl = this.flags[st]!;
        if (fl & 1) {
          last = p;
          if (fl & 2) {
            alive = false;
            break;
          }
        }
      }
      this.memoNext = this.generation === gen ? s + 1 : -1;
      this.memoGen = this.generation;
      this.memoStop = p;
      this.memoStopState = st;
      this.memoAlive = alive;
      this.memoLast = last;
      if (last > s) found(s, last - s);
    }
  }

  /**
   * Runs the (unanchored) DFA from state `st` over bytes[from, to): the position just after the
   * first byte where a match ends, or -1 with the state reached in `this.lastState`.
   */
  lastState = 0;
  scan(bytes: Uint8Array, st: number, from: number, to: number): number {
    for (let p = from; p < to; p++) {
      let nx = this.trans[st * 256 + bytes[p]!]!;
      if (nx < 0) nx = this.build(st, bytes[p]!);
      st = nx;
      if ((this.flags[st]! & 1) !== 0) {
        this.lastState = st;
        return p + 1;
      }
    }
    this.lastState = st;
    return -1;
  }
}

/**
 * The leftmost-first match at `s` by a Pike VM (for programs with assertions): length or -1.
 * Assertions look at the real data (`^` is offset 0, `$` is bytes.length).
 */
export class PikeVm {
  private clist: Int32Array;
  private nlist: Int32Array;
  private mark: Int32Array;
  private gen = 0;
  private stack: number[] = [];

  constructor(readonly prog: Program) {
    const n = prog.op.length;
    this.clist = new Int32Array(n);
    this.nlist = new Int32Array(n);
    this.mark = new Int32Array(n * 2);
  }

  /** adds the closure of pc at position p to list (returns the new count; -1 - count when MATCH was added). */
  private add(list: Int32Array, count: number, pc0: number, bytes: Uint8Array, p: number): number {
    const { op, x, y } = this.prog;
    const mark = this.mark,
      g = this.gen,
      stack = this.stack;
    stack.length = 0;
    stack.push(pc0 * 2);
    while (stack.length) {
      const e = stack.pop()!;
      const pc = e >> 1,
        f = e & 1;
      const o = op[pc]!;
      const key = o === OP_SET || o === OP_MATCH ? pc * 2 : e;
      if (mark[key] === g) continue;
      mark[key] = g;
      if (o === OP_SET) list[count++] = pc;
      else if (o === OP_MATCH) {
        list[count++] = pc;
        return -1 - count;
      } else if (o === OP_JMP) stack.push(x[pc]! * 2 + f);
      else if (o === OP_SPLIT) stack.push(y[pc]! * 2 + f, x[pc]! * 2 + f);
      else if (o === OP_ITER_IN) stack.push((pc + 1) * 2 + 1);
      else if (o === OP_ITER_OUT) {
        if (f === 0) stack.push((pc + 1) * 2);
      } else {
        const n = bytes.length;
        const k = x[pc]!;
        let ok: boolean;
        if (k === A_BOL) ok = p === 0;
        else if (k === A_EOL) ok = p === n;
        else if (k === A_WORDB || k === A_NWORDB) {
          const a = p > 0 && isWord(bytes[p - 1]!);
          const b = p < n && isWord(bytes[p]!);
          ok = k === A_WORDB ? a !== b : a === b;
        } else {
          const a = p > 1 && isWord(bytes[p - 2]!) && bytes[p - 1] === 0;
          const b = p + 1 < n && isWord(bytes[p]!) && bytes[p + 1] === 0;
          ok = k === A_WORDB_WIDE ? a !== b : a === b;
        }
        if (ok) stack.push((pc + 1) * 2 + f);
      }
    }
    return count;
  }

  matchAt(bytes: Uint8Array, s: number, end: number): number {
    const { op, x, sets } = this.prog;
    let clist = this.clist,
      nlist = this.nlist;
    this.gen++;
    let cn = this.add(clist, 0, 0, bytes, s);
    let last = -1;
    if (cn < 0) {
      cn = -1 - cn;
      if (op[clist[0]!] === OP_MATCH) return 0;
      last = 0;
    }
    for (let p = s; p < end && cn > 0; p++) {
      const b = bytes[p]!;
      this.gen++;
      let nn = 0;
      for (let k = 0; k < cn; k++) {
        const pc = clist[k]!;
        const o = op[pc]!;
        if (o === OP_MATCH) break; // lower-priority threads are cut
        if (sets[x[pc]! + b] !== 1) continue;
        const r = this.add(nlist, nn, pc + 1, bytes, p + 1);
        if (r < 0) {
          nn = -1 - r;
          last = p + 1 - s;
          break;
        }
        nn = r;
      }
      const t = clist;
      clist = nlist;
      nlist = t;
      cn = nn;
      if (cn > 0 && op[clist[0]!] === OP_MATCH) break;
    }
    this.clist = clist;
    this.nlist = nlist;
    return last;
  }
}

/**
 * An upper bound of the work a backtracking matcher does at one start position, in units of
 * "paths": alternatives add, sequences multiply, a repetition {a,b} of one byte set costs b-a+1
 * and anything unbounded, or a repetition of something that itself branches, is Infinity.
 */
export function backtrackBound(node: ReNode): number {
  switch (node.t) {
    case "set":
      return 1;
    case "cat": {
      let b = 1;
      for (const it of node.items) b *= backtrackBound(it);
      return b;
    }
    case "alt": {
      let b = 0;
      for (const a of node.alts) b += backtrackBound(a);
      return b;
    }
    case "rep": {
      if (node.max === null) return Infinity;
      const inner = backtrackBound(node.node);
      if (node.node.t === "set") return node.max - node.min + 1;
      if (inner === 1) return node.max - node.min + 1;
      return node.max === node.min ? inner ** node.max : Infinity;
    }
    default:
      return 1;
  }
}

/** A compiled pattern: matches at a start position, and a filter for regions without matches. */
export class Matcher {
  private readonly dfa: LazyDfa | null;
  private readonly pike: PikeVm | null;
  /** unanchored, assertions relaxed: "can a match start in this region?" (null: pattern matches empty). */
  readonly filter: LazyDfa | null;

  constructor(readonly prog: Program) {
    this.dfa = prog.hasAssert ? null : new LazyDfa(prog, false);
    this.pike = prog.hasAssert ? new PikeVm(prog) : null;
    this.filter = prog.nullable ? null : new LazyDfa(prog, true);
  }

  static of(node: ReNode): Matcher {
    return new Matcher(compileProgram(node));
  }

  /** Every non-empty match starting in [lo, hi] within `window` bytes of its start (see LazyDfa.matchRange). */
  matchRange(
    bytes: Uint8Array,
    lo: number,
    hi: number,
    window: number,
    found: (start: number, length: number) => void,
    epoch: number = newEpoch(),
  ): void {
    const n = bytes.length;
    if (this.dfa !== null) {
      this.dfa.matchRange(bytes, lo, hi, n, window, found, epoch);
      return;
    }
    for (let s = lo; s <= hi; s++) {
      const len = this.pike!.matchAt(bytes, s, Math.min(n, s + window));
      if (len > 0) found(s, len);
    }
  }

  /** Length of the leftmost-first match at `s` within bytes[s, end), or -1. */
  matchAt(bytes: Uint8Array, s: number, end: number): number {
    return this.dfa !== null ? this.dfa.matchAt(bytes, s, end) : this.pike!.matchAt(bytes, s, end);
  }
}
