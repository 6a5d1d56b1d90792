/**
 * A read-only reader for SQLite database files (https://www.sqlite.org/fileformat.html), just
 * enough to scan the rows of one table: the 100-byte header, table b-tree pages (interior and
 * leaf), overflow chains and the record format. Used for rpm's rpmdb.sqlite. Every page number,
 * offset and length is checked; a malformed file gives an error or fewer rows, never a hang
 * (each page is visited at most once per scan). A write-ahead log (-wal) is not applied.
 */
export type SqlValue = null | number | bigint | string | Uint8Array;

export class SqliteFile {
  readonly pageSize: number;
  readonly usable: number;
  private readonly pages: number;

  constructor(private readonly b: Buffer) {
    if (b.length < 100 || b.subarray(0, 16).toString("latin1") !== "SQLite format 3\0")
      throw new Error("not an SQLite 3 database");
    const ps = b.readUInt16BE(16);
    this.pageSize = ps === 1 ? 65536 : ps;
    if (this.pageSize < 512 || (this.pageSize & (this.pageSize - 1)) !== 0) throw new Error("bad SQLite page size");
    this.usable = this.pageSize - b[20]!;
    if (this.usable < 480) throw new Error("bad SQLite reserved space");
    this.pages = Math.floor(b.length / this.pageSize);
    if (b.readUInt32BE(56) > 1) throw new Error("SQLite text encoding is not UTF-8");
  }

  private page(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > this.pages) throw new Error(`SQLite page ${n} out of range`);
    return (n - 1) * this.pageSize;
  }

  private varint(at: number): [bigint | number, number] {
    let v = 0n;
    for (let i = 0; i < 9; i++) {
      const c = this.b[at + i];
      if (c === undefined) throw new Error("truncated varint");
      if (i === 8) return [BigInt.asIntN(64, (v << 8n) | BigInt(c)), at + 9];
      v = (v << 7n) | BigInt(c & 0x7f);
      if (c < 0x80) return [v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v, at + i + 1];
    }
    throw new Error("unreachable");
  }

  private num(at: number): [number, number] {
    const [v, next] = this.varint(at);
    if (typeof v !== "number" || v < 0) throw new Error("SQLite length out of range");
    return [v, next];
  }

  /** The payload of a table-leaf cell, following overflow pages. */
  private payload(at: number, size: number, seen: Set<number>): Buffer {
    const U = this.usable;
    const X = U - 35;
    if (size <= X) {
      if (at + size > this.b.length) throw new Error("cell beyond end of file");
      return this.b.subarray(at, at + size);
    }
    const M = Math.floor(((U - 12) * 32) / 255) - 23;
    const K = M + ((size - M) % (U - 4));
    const local = K <= X ? K : M;
    const parts: Buffer[] = [this.b.subarray(at, at + local)];
    let got = local;
    let next = this.b.readUInt32BE(at + local);
    while (got < size) {
      if (seen.has(next)) throw new Error("SQLite overflow chain loops");
      seen.add(next);
      const p = this.page(next);
      const n = Math.min(U - 4, size - got);
      parts.push(this.b.subarray(p + 4, p + 4 + n));
      got += n;
      next = this.b.readUInt32BE(p);
    }
    return Buffer.concat(parts);
  }

  private record(p: Buffer): SqlValue[] {
    const [hsize, h0] = this.numIn(p, 0);
    let h = h0;
    let body = hsize;
    const out: SqlValue[] = [];
    while (h < hsize) {
      const [t, hn] = this.numIn(p, h);
      h = hn;
      const len = t >= 12 ? (t - 12) >> 1 : [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0][t]!;
      if (body + len > p.length) throw new Error("SQLite record beyond its payload");
      const v = p.subarray(body, body + len);
      body += len;
      if (t === 0) out.push(null);
      else if (t >= 1 && t <= 6) {
        let x = 0n;
        for (const c of v) x = (x << 8n) | BigInt(c);
        x = BigInt.asIntN(len * 8, x);
        out.push(x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x);
      } else if (t === 7) out.push(v.readDoubleBE(0));
      else if (t === 8) out.push(0);
      else if (t === 9) out.push(1);
      else if (t >= 12 && t % 2 === 0) out.push(new Uint8Array(v));
      else if (t >= 13) out.push(v.toString("utf8"));
      else throw new Error(`SQLite serial type ${t} reserved`);
    }
    return out;
  }

  private numIn(p: Buffer, at: number): [number, number] {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      const c = p[at + i];
      if (c === undefined) throw new Error("truncated record header");
      if (i === 8) {
        v = v * 256 + c;
        return [v, at + 9];
      }
      v = v * 128 + (c & 0x7f);
      if (c < 0x80) return [v, at + i + 1];
    }
    return [v, at + 9];
  }

  /** Every row of the table b-tree rooted at `root`: [rowid, columns]. */
  *rows(root: number): Generator<[number | bigint, SqlValue[]]> {
    const seen = new Set<number>();
    const stack = [root];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) throw new Error("SQLite b-tree loops");
      seen.add(n);
      const base = this.page(n);
      const hdr = n === 1 ? base + 100 : base;
      const type = this.b[hdr];
      const cells = this.b.readUInt16BE(hdr + 3);
      if (type === 5) {
        const children: number[] = [];
        for (let i = 0; i < cells; i++)
          children.push(this.b.readUInt32BE(base + this.b.readUInt16BE(hdr + 12 + i * 2)));
        children.push(this.b.readUInt32BE(hdr + 8));
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
      } else if (type === 13) {
        for (let i = 0; i < cells; i++) {
          const at = base + this.b.readUInt16BE(hdr + 8 + i * 2);
          const [size, a1] = this.num(at);
          const [rowid, a2] = this.varint(a1);
          yield [rowid, this.record(this.payload(a2, size, seen))];
        }
      } else {
        throw new Error(`SQLite page ${n} is not a table b-tree page (type ${type})`);
      }
    }
  }

  /** The root page of a table, from sqlite_schema. */
  tableRoot(name: string): number | undefined {
    for (const [, cols] of this.rows(1)) {
      if (
        cols[0] === "table" &&
        typeof cols[1] === "string" &&
        cols[1].toLowerCase() === name.toLowerCase() &&
        typeof cols[3] === "number"
      )
        return cols[3];
    }
    return undefined;
  }
}
