/**
 * VBA macro projects ([MS-OVBA]): the compressed `dir` stream of each `VBA` storage names the
 * module streams and where in each the compressed source starts; every module's source is
 * decompressed and yielded as `…/VBA/NAME.vba`, the text YARA and ClamAV macro rules target.
 * When the `dir` stream is damaged, module streams are searched for the start of a compressed
 * source (`Attribut` as the first literals of a chunk), as extraction tools do.
 */
import { damaged } from "../gzip.js";
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "../types.js";
import type { CompoundFile, DirEntry } from "./ole2.js";

/**
 * Decompresses an MS-OVBA CompressedContainer starting at `b[0]` (signature byte 1) into at
 * most `limit` bytes (OutputLimit past it); damage stops decoding and says why.
 */
export function ovbaDecompress(b: Uint8Array, limit: number): { data: Uint8Array; error?: string } {
  if (b.length < 1 || b[0] !== 1) return { data: new Uint8Array(0), error: "no compressed container signature" };
  let out = new Uint8Array(Math.min(limit, Math.max(4096, b.length * 3)));
  let n = 0;
  const grow = (need: number) => {
    if (need <= out.length) return;
    if (need > limit) throw new OutputLimit(limit);
    const next = new Uint8Array(Math.min(limit, Math.max(need, out.length * 2)));
    next.set(out.subarray(0, n));
    out = next;
  };
  let p = 1;
  while (p < b.length) {
    if (p + 2 > b.length) return { data: out.subarray(0, n), error: `chunk header cut at byte ${p}` };
    const h = b[p]! | (b[p + 1]! << 8);
    const size = (h & 0x0fff) + 3;
    if (((h >> 12) & 7) !== 3) return { data: out.subarray(0, n), error: `bad chunk signature at byte ${p}` };
    const end = Math.min(b.length, p + size);
    const chunkStart = n;
    let q = p + 2;
    if (!(h & 0x8000)) {
      // an uncompressed chunk: 4096 raw bytes
      const take = Math.min(4096, b.length - q);
      grow(n + take);
      out.set(b.subarray(q, q + take), n);
      n += take;
      if (take < 4096) return { data: out.subarray(0, n), error: "uncompressed chunk cut short" };
      p = q + 4096;
      continue;
    }
    while (q < end) {
      const flags = b[q++]!;
      for (let bit = 0; bit < 8 && q < end; bit++) {
        if (!(flags & (1 << bit))) {
          grow(n + 1);
          out[n++] = b[q++]!;
          continue;
        }
        if (q + 2 > end) return { data: out.subarray(0, n), error: `copy token cut at byte ${q}` };
        const token = b[q]! | (b[q + 1]! << 8);
        q += 2;
        const diff = n - chunkStart;
        let bits = 4;
        while (1 << bits < diff) bits++;
        if (bits > 12) bits = 12;
        const lengthMask = 0xffff >> bits;
        const length = (token & lengthMask) + 3;
        const offset = (token >> (16 - bits)) + 1;
        if (offset > diff)
          return { data: out.subarray(0, n), error: `copy token reaches before its chunk at byte ${q - 2}` };
        grow(n + length);
        for (let k = 0; k < length; k++, n++) out[n] = out[n - offset]!;
      }
    }
    if (p + size > b.length) return { data: out.subarray(0, n), error: "compressed chunk cut short" };
    p += size;
  }
  return { data: out.subarray(0, n) };
}

interface Module {
  stream: string;
  offset: number;
}

/** Module stream names and source offsets from a decompressed `dir` stream. */
export function dirModules(d: Uint8Array): { modules: Module[]; error?: string } {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const modules: Module[] = [];
  let cur: Partial<Module> = {};
  let p = 0;
  while (p + 6 <= d.length) {
    const id = v.getUint16(p, true);
    const size = v.getUint32(p + 2, true);
    if (id === 0x0009) {
      p += 12; // PROJECTVERSION: its size field says 4, 6 bytes follow
      continue;
    }
    if (p + 6 + size > d.length) return { modules, error: `dir record 0x${id.toString(16)} runs past the end` };
    const body = d.subarray(p + 6, p + 6 + size);
    if (id === 0x001a) cur.stream = Buffer.from(body).toString("latin1");
    else if (id === 0x0032) cur.stream = Buffer.from(body).toString("utf16le");
    else if (id === 0x0031 && size >= 4) cur.offset = v.getUint32(p + 6, true);
    else if (id === 0x002b) {
      if (cur.stream !== undefined) modules.push({ stream: cur.stream, offset: cur.offset ?? 0 });
      cur = {};
    } else if (id === 0x0010) break; // end of the dir stream
    p += 6 + size;
  }
  return { modules };
}

const NOT_MODULES = /^(dir|_vba_project|__srp_\d+|project.*)$/i;

/** Every VBA module source of the compound file, decompressed. */
export function* vbaSources(cf: CompoundFile, cap: OutputCap): Generator<Member> {
  const dirs = cf.streams().filter((e) => /(^|\/)vba\/dir$/i.test(e.path!));
  if (!dirs.length) return;
  // the streams of each storage, for the search when a dir stream fails
  const byStorage = new Map<string, DirEntry[]>();
  for (const e of cf.streams()) {
    const storage = e.path!.slice(0, e.path!.lastIndexOf("/") + 1);
    let list = byStorage.get(storage);
    if (!list) byStorage.set(storage, (list = []));
    list.push(e);
  }
  for (const dir of dirs) {
    const prefix = dir.path!.slice(0, -3);
    let problem: string | undefined;
    let modules: Module[] = [];
    try {
      const raw = cf.read(dir, cap(dir.size));
      const d = ovbaDecompress(raw.data, cap(raw.data.length));
      const parsed = dirModules(d.data);
      modules = parsed.modules;
      problem = raw.error ?? (d.error ? `VBA dir stream damaged: ${d.error}` : parsed.error);
    } catch (err) {
      if (!(err instanceof OutputLimit)) throw err;
      problem = `VBA dir stream expands past ${err.limit} bytes`;
    }
    const found = new Set<DirEntry>();
    for (const m of modules) {
      const e = cf.find(prefix + cleanName(m.stream));
      if (!e) {
        problem ??= `VBA module stream ${cleanName(m.stream)} listed in dir is missing`;
        continue;
      }
      found.add(e);
      yield* moduleSource(cf, e, m.offset, cap);
    }
    if (problem || !modules.length) {
      // search the other streams of the storage for a compressed source
      for (const e of byStorage.get(prefix) ?? []) {
        if (found.has(e) || NOT_MODULES.test(e.name)) continue;
        let raw: Uint8Array;
        try {
          raw = cf.read(e, cap(e.size)).data;
        } catch (err) {
          if (!(err instanceof OutputLimit)) throw err;
          continue; // the stream itself was yielded (and reported) as over the limit
        }
        const at = findSourceStart(raw);
        if (at >= 0) yield* moduleSource(cf, e, at, cap);
      }
    }
    if (problem)
      yield {
        name: `${prefix}dir`,
        compressedSize: dir.size,
        problem: { reason: "corrupt-archive", message: problem },
      };
  }
}

function findSourceStart(b: Uint8Array): number {
  const pat = Buffer.from("\0Attribut", "latin1");
  let i = Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(pat);
  while (i >= 0) {
    if (i >= 3 && b[i - 3] === 1) return i - 3;
    i = Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(pat, i + 1);
  }
  return -1;
}

function* moduleSource(cf: CompoundFile, e: DirEntry, offset: number, cap: OutputCap): Generator<Member> {
  const name = `${e.path!}.vba`;
  try {
    const raw = cf.read(e, cap(e.size));
    if (offset >= raw.data.length) {
      yield {
        name,
        compressedSize: e.size,
        problem: {
          reason: "corrupt-archive",
          message: `VBA module source offset ${offset} lies past the stream's ${raw.data.length} bytes`,
        },
      };
      return;
    }
    const src = raw.data.subarray(offset);
    const limit = cap(src.length);
    const d = ovbaDecompress(src, limit);
    yield d.error
      ? damaged(name, src.length, d.data, `VBA source damaged: ${d.error}`)
      : { name, compressedSize: src.length, data: d.data };
  } catch (err) {
    if (!(err instanceof OutputLimit)) throw err;
    yield overLimit(name, e.size, err.limit);
  }
}
