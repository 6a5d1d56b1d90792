/**
 * `.cbc` ClamAV bytecode: line 1 is `ClamBC` and the header (numbers and strings in ClamAV's
 * nibble encoding), line 2 the trigger (an `.ldb` line for logical bytecode, or only a name
 * for hooks such as unpackers), then the program. Vigil reads the header (format, kind,
 * functionality levels) and the trigger, counts one per logical bytecode (hooks count 0, as
 * clamscan) and does not execute anything: the loader lists the names this leaves out.
 * Running them would take a port of ClamAV's bytecode interpreter and its API of about a
 * hundred calls, under a time limit.
 */

import { SignatureSyntaxError } from "../signature/fields.js";

export interface CbcHeader {
  format: number;
  kind: number;
  minFlevel: number;
  maxFlevel: number;
  /** the trigger's signature name (logical bytecode) or the hook's name */
  name: string;
  logical: boolean;
}

class Reader {
  constructor(
    readonly s: string,
    public at: number,
  ) {}
  number(): number {
    const lim = this.s.charCodeAt(this.at) - 0x60;
    if (!(lim >= 0 && lim <= 0x10)) throw new SignatureSyntaxError(`bytecode header: bad number at ${this.at}`);
    let n = 0;
    let mul = 1;
    for (let i = 1; i <= lim; i++, mul *= 16) {
      const c = this.s.charCodeAt(this.at + i);
      if ((c & 0xf0) !== 0x60) throw new SignatureSyntaxError(`bytecode header: bad number at ${this.at}`);
      n += (c & 0xf) * mul;
    }
    this.at += lim + 1;
    return n;
  }
  string(): void {
    if (this.s[this.at] !== "|") throw new SignatureSyntaxError(`bytecode header: string expected at ${this.at}`);
    this.at++;
    const len = this.number();
    if (this.at + 2 * len > this.s.length) throw new SignatureSyntaxError("bytecode header: string runs past the line");
    this.at += 2 * len;
  }
}

/** Reads the header and trigger of a `.cbc` text; throws SignatureSyntaxError when they are malformed. */
export function parseCbc(text: string): CbcHeader {
  const nl = text.indexOf("\n");
  const first = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, "");
  if (!first.startsWith("ClamBC")) throw new SignatureSyntaxError("missing ClamBC magic: not a bytecode file");
  const r = new Reader(first, 6);
  const format = r.number();
  if (format !== 6 && format !== 7) return { format, kind: 0, minFlevel: 0, maxFlevel: 0, name: "", logical: false };
  r.number(); // timestamp
  r.string(); // sigmaker
  r.number(); // targetExclude
  const kind = r.number();
  const minFlevel = r.number();
  const maxFlevel = r.number();
  const rest = (nl < 0 ? "" : text.slice(nl + 1)).split("\n")[0]!.replace(/\r$/, "");
  if (rest === "") throw new SignatureSyntaxError("bytecode without its trigger line (line 2)");
  const semi = rest.indexOf(";");
  return { format, kind, minFlevel, maxFlevel, name: semi < 0 ? rest : rest.slice(0, semi), logical: semi >= 0 };
}
