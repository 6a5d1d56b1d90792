/**
 * A ClamAV body pattern as a small byte program, and the matcher that runs it at one start
 * position. Programs live side by side in one shared byte array, so a hundred thousand
 * signatures cost their bytes and no JavaScript objects.
 *
 * Instructions (little-endian operands):
 *   EXACT  len:u16 bytes[len]                 bytes equal
 *   MASKED len:u16 values[len] masks[len]     (byte & mask) == value   (nibbles, ??)
 *   SET    bitmap[32]                         one byte out of a set
 *   JUMP   min:u32 max:u32                    skip min..max bytes (max 0xffffffff: unbounded), fewest first
 *   JUMP_GREEDY min:u32 max:u32               the same, most first
 *   ALT    k:u16 then k x (len:u32 body[len]) one of the alternatives, tried in order
 * The matcher follows the priority of the pattern the translation emits, so it finds the same
 * match and length: alternatives left first; jumps lazy (fewest bytes first) as in a YARA hex
 * string, or greedy when the translation has to write a regular expression (`greedy`).
 */
import type { HexNode } from "../../signature/hexsig.js";

export const OP_EXACT = 1;
export const OP_MASKED = 2;
export const OP_SET = 3;
export const OP_JUMP = 4;
export const OP_ALT = 5;
export const OP_JUMP_GREEDY = 6;
export const UNBOUNDED = 0xffffffff;

/** Growable byte output. */
export class ByteSink {
  buf = new Uint8Array(1 << 16);
  n = 0;
  private ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.n++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.n++] = v & 0xff;
    this.buf[this.n++] = (v >>> 8) & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    for (let k = 0; k < 4; k++) this.buf[this.n++] = (v >>> (8 * k)) & 0xff;
  }
  bytes(b: ArrayLike<number>): void {
    this.ensure(b.length);
    for (let k = 0; k < b.length; k++) this.buf[this.n++] = b[k]!;
  }
  /** A string as UTF-8. */
  utf8(s: string): void {
    this.ensure(3 * s.length);
    this.n += Buffer.from(this.buf.buffer, this.buf.byteOffset + this.n, this.buf.length - this.n).write(s, "utf8");
  }
  /** Reserves a u32 written later (a length known after its body). */
  hole(): number {
    this.ensure(4);
    const at = this.n;
    this.n += 4;
    return at;
  }
  fill(at: number, v: number): void {
    for (let k = 0; k < 4; k++) this.buf[at + k] = (v >>> (8 * k)) & 0xff;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

const singleByte = (a: HexNode[]): number | undefined =>
  a.length === 1 && a[0]!.kind === "byte" && a[0]!.mask === 0xff ? a[0]!.value : undefined;

/** Writes the program for a lowered node sequence (no markers, no negations). */
export function encode(nodes: HexNode[], out: ByteSink, greedy = false): void {
  for (let i = 0; i < nodes.length; ) {
    const n = nodes[i]!;
    if (n.kind === "byte") {
      let j = i;
      let exact = true;
      while (j < nodes.length && j - i < 0xffff && nodes[j]!.kind === "byte") {
        if ((nodes[j] as { mask: number }).mask !== 0xff) exact = false;
        j++;
      }
      const run = nodes.slice(i, j) as Array<{ value: number; mask: number }>;
      out.u8(exact ? OP_EXACT : OP_MASKED);
      out.u16(run.length);
      out.bytes(run.map((b) => b.value & b.mask));
      if (!exact) out.bytes(run.map((b) => b.mask));
      i = j;
      continue;
    }
    i++;
    if (n.kind === "set" || (n.kind === "alt" && n.alternatives.every((a) => singleByte(a) !== undefined))) {
      // one byte out of a set: alternatives of single whole bytes match the same as a set
      const members = n.kind === "set" ? n.bytes : n.alternatives.map((a) => singleByte(a)!);
      const bitmap = new Uint8Array(32);
      for (const b of members) bitmap[b >> 3]! |= 1 << (b & 7);
      out.u8(OP_SET);
      out.bytes(bitmap);
    } else if (n.kind === "jump") {
      if (n.min === 0 && n.max === 0) continue;
      out.u8(greedy ? OP_JUMP_GREEDY : OP_JUMP);
      out.u32(n.min);
      out.u32(n.max === undefined ? UNBOUNDED : n.max);
    } else if (n.kind === "alt") {
      out.u8(OP_ALT);
      out.u16(n.alternatives.length);
      for (const a of n.alternatives) {
        const hole = out.hole();
        const from = out.n;
        encode(a, out, greedy);
        out.fill(hole, out.n - from);
      }
    } else throw new Error(`internal: ${n.kind} node left in a lowered pattern`);
  }
}

interface Cont {
  pc: number;
  end: number;
  next: Cont | null;
}

const u32 = (p: Uint8Array, at: number) => (p[at]! | (p[at + 1]! << 8) | (p[at + 2]! << 16) | (p[at + 3]! << 24)) >>> 0;

/**
 * The running scan's deadline: matchAt counts the positions its jumps try and, every 65536,
 * calls `expired` (which throws the scan's timeout error when the deadline has passed), so even
 * one pathological pattern at one position cannot run past it.
 */
export const work = { steps: 0, deadline: Infinity, expired: (): void => {} };

/**
 * Runs the program p[pc, end) on data from `pos`, never reading at or past `limit`. Returns the
 * end of the first match in priority order, or -1.
 */
export function matchAt(
  p: Uint8Array,
  pc: number,
  end: number,
  d: Uint8Array,
  pos: number,
  limit: number,
  k: Cont | null = null,
): number {
  for (;;) {
    if (pc >= end) {
      if (k === null) return pos;
      pc = k.pc;
      end = k.end;
      k = k.next;
      continue;
    }
    switch (p[pc]) {
      case OP_EXACT: {
        const len = p[pc + 1]! | (p[pc + 2]! << 8);
        if (pos + len > limit) return -1;
        const at = pc + 3;
        for (let j = 0; j < len; j++) if (d[pos + j] !== p[at + j]) return -1;
        pos += len;
        pc = at + len;
        break;
      }
      case OP_MASKED: {
        const len = p[pc + 1]! | (p[pc + 2]! << 8);
        if (pos + len > limit) return -1;
        const v = pc + 3,
          m = v + len;
        for (let j = 0; j < len; j++) if ((d[pos + j]! & p[m + j]!) !== p[v + j]) return -1;
        pos += len;
        pc = m + len;
        break;
      }
      case OP_SET: {
        if (pos >= limit) return -1;
        const b = d[pos]!;
        if ((p[pc + 1 + (b >> 3)]! & (1 << (b & 7))) === 0) return -1;
        pos++;
        pc += 33;
        break;
      }
      case OP_JUMP: {
        const min = u32(p, pc + 1),
          max = u32(p, pc + 5);
        const next = pc + 9;
        const hi = max === UNBOUNDED ? limit : Math.min(limit, pos + max);
        for (let q = pos + min; q <= hi; q++) {
          if (++work.steps > 0xffff) {
            work.steps = 0;
            if (Date.now() > work.deadline) work.expired();
          }
          const r = matchAt(p, next, end, d, q, limit, k);
          if (r >= 0) return r;
        }
        return -1;
      }
      case OP_JUMP_GREEDY: {
        const min = u32(p, pc + 1),
          max = u32(p, pc + 5);
        const next = pc + 9;
        const hi = max === UNBOUNDED ? limit : Math.min(limit, pos + max);
        for (let q = hi; q >= pos + min; q--) {
          if (++work.steps > 0xffff) {
            work.steps = 0;
            if (Date.now() > work.deadline) work.expired();
          }
          const r = matchAt(p, next, end, d, q, limit, k);
          if (r >= 0) return r;
        }
        return -1;
      }
      case OP_ALT: {
        const count = p[pc + 1]! | (p[pc + 2]! << 8);
        let after = pc + 3;
        for (let j = 0; j < count; j++) after += 4 + u32(p, after);
        const cont: Cont = { pc: after, end, next: k };
        let a = pc + 3;
        for (let j = 0; j < count; j++) {
          const len = u32(p, a);
          const r = matchAt(p, a + 4, a + 4 + len, d, pos, limit, cont);
          if (r >= 0) return r;
          a += 4 + len;
        }
        return -1;
      }
      default:
        throw new Error(`corrupt body signature program (opcode ${p[pc]} at ${pc})`);
    }
  }
}
