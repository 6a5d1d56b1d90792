/**
 * Bounds-checked reading of PE images, shared by the `pe` and `dotnet` modules.
 *
 * Every read checks its range against the scanned bytes and returns `undefined` (or -1 for
 * offsets) instead of throwing, so a hostile file can only make fields undefined. The header
 * checks and the RVA-to-offset mapping follow YARA's (pe_get_header, pe_rva_to_offset),
 * including its tolerance for FileAlignment below 0x200.
 */

export const MAX_PE_SECTIONS = 96;
export const IMAGE_NT_OPTIONAL_HDR32_MAGIC = 0x10b;
export const IMAGE_NT_OPTIONAL_HDR64_MAGIC = 0x20b;
export const IMAGE_FILE_DLL = 0x2000;

/** Machine values YARA accepts as a PE (anything else is "not a PE"). */
const ACCEPTED_MACHINES = new Set([
  0x0, 0x1d3, 0x8664, 0x1c0, 0x1c4, 0xaa64, 0xebc, 0x14c, 0x200, 0x9041, 0x266, 0x366, 0x466, 0x1f0, 0x1f1, 0x166,
  0x1a2, 0x1a3, 0x1a6, 0x1a8, 0x1c2, 0x169,
]);

/** A little-endian view over the scanned bytes with range-checked reads. */
export class Bytes {
  readonly size: number;
  private readonly view: DataView;
  /** a Buffer view of the same bytes, for fast latin1 decoding (no copy). */
  private readonly buf: Buffer;
  constructor(readonly data: Uint8Array) {
    this.size = data.length;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  /** true when [offset, offset + length) lies inside the data. */
  fits(offset: number, length: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && length >= 0 && offset + length <= this.size;
  }
  u8(o: number): number | undefined {
    return this.fits(o, 1) ? this.data[o] : undefined;
  }
  u16(o: number): number | undefined {
    return this.fits(o, 2) ? this.view.getUint16(o, true) : undefined;
  }
  u32(o: number): number | undefined {
    return this.fits(o, 4) ? this.view.getUint32(o, true) : undefined;
  }
  /** unsigned 64-bit value as a bigint. */
  u64(o: number): bigint | undefined {
    return this.fits(o, 8) ? this.view.getBigUint64(o, true) : undefined;
  }
  /** Unchecked reads, for callers that checked the range already. */
  u16At(o: number): number {
    return this.view.getUint16(o, true);
  }
  u32At(o: number): number {
    return this.view.getUint32(o, true);
  }
  /** bytes [start, end) as a latin1 byte string (clamped to the data). */
  str(start: number, end: number): string {
    start = Math.max(0, Math.min(start, this.size));
    end = Math.max(start, Math.min(end, this.size));
    return this.buf.toString("latin1", start, end);
  }
  /** length of the NUL-terminated string at `o`, looking at most `max` bytes (and not past the end). */
  strnlen(o: number, max: number): number {
    if (!this.fits(o, 0)) return 0;
    const end = Math.min(this.size, o + max);
    let i = o;
    while (i < end && this.data[i] !== 0) i++;
    return i - o;
  }
  /** bytes available from `o` to the end of the data (0 when `o` is outside). */
  available(o: number): number {
    return o >= 0 && o < this.size ? this.size - o : 0;
  }
}

export interface Section {
  readonly index: number;
  /** file offset of the section header. */
  readonly headerOffset: number;
  readonly nameBytes: Uint8Array;
  readonly virtualSize: number;
  readonly virtualAddress: number;
  readonly rawDataSize: number;
  readonly rawDataOffset: number;
  readonly pointerToRelocations: number;
  readonly pointerToLineNumbers: number;
  readonly numberOfRelocations: number;
  readonly numberOfLineNumbers: number;
  readonly characteristics: number;
}

/** A parsed PE: where its headers are and how to map RVAs. */
export class PeImage {
  readonly b: Bytes;
  /** file offset of the "PE\0\0" signature. */
  readonly ntOffset: number;
  /** file offset of the optional header. */
  readonly optOffset: number;
  readonly is64: boolean;
  readonly numberOfSections: number;
  readonly sizeOfOptionalHeader: number;
  /** section headers that fit in the file (at most MAX_PE_SECTIONS, stopping at the first that does not fit). */
  readonly sections: Section[];
  /** true when all NumberOfSections (capped) headers fit: pe_rva_to_offset fails otherwise. */
  readonly allSectionsFit: boolean;

  private constructor(b: Bytes, ntOffset: number) {
    this.b = b;
    this.ntOffset = ntOffset;
    this.optOffset = ntOffset + 24;
    this.is64 = b.u16At(this.optOffset) === IMAGE_NT_OPTIONAL_HDR64_MAGIC;
    this.numberOfSections = b.u16At(ntOffset + 6);
    this.sizeOfOptionalHeader = b.u16At(ntOffset + 20);
    const first = this.optOffset + this.sizeOfOptionalHeader;
    const count = Math.min(this.numberOfSections, MAX_PE_SECTIONS);
    const sections: Section[] = [];
    for (let i = 0; i < count; i++) {
      const o = first + i * 40;
      if (!b.fits(o, 40)) break;
      sections.push({
        index: i,
        headerOffset: o,
        nameBytes: b.data.subarray(o, o + 8),
        virtualSize: b.u32At(o + 8),
        virtualAddress: b.u32At(o + 12),
        rawDataSize: b.u32At(o + 16),
        rawDataOffset: b.u32At(o + 20),
        pointerToRelocations: b.u32At(o + 24),
        pointerToLineNumbers: b.u32At(o + 28),
        numberOfRelocations: b.u16At(o + 32),
        numberOfLineNumbers: b.u16At(o + 34),
        characteristics: b.u32At(o + 36),
      });
    }
    this.sections = sections;
    this.allSectionsFit = sections.length === count;
  }

  /** Parses the DOS and NT headers; undefined when the data is not a PE YARA would accept. */
  static parse(data: Uint8Array): PeImage | undefined {
    const b = new Bytes(data);
    if (b.size < 64 || b.u16At(0) !== 0x5a4d) return undefined;
    const lfanew = b.u32At(0x3c);
    // YARA reads e_lfanew as a signed int32 and rejects negative values.
    if (lfanew >= 0x80000000) return undefined;
    let headers = lfanew + 4 + 20;
    if (b.size < headers) return undefined;
    if (b.u32At(lfanew) !== 0x00004550) return undefined;
    if (b.size < headers + 224) return undefined;
    headers += b.u16At(lfanew + 24) === IMAGE_NT_OPTIONAL_HDR64_MAGIC ? 240 : 224;
    if (b.size < headers) return undefined;
    if (!ACCEPTED_MACHINES.has(b.u16At(lfanew + 4))) return undefined;
    return new PeImage(b, lfanew);
  }

  get machine(): number {
    return this.b.u16At(this.ntOffset + 4);
  }
  get timestamp(): number {
    return this.b.u32At(this.ntOffset + 8);
  }
  get pointerToSymbolTable(): number {
    return this.b.u32At(this.ntOffset + 12);
  }
  get numberOfSymbols(): number {
    return this.b.u32At(this.ntOffset + 16);
  }
  get characteristics(): number {
    return this.b.u16At(this.ntOffset + 22);
  }

  /** optional-header fields at the same offset in PE32 and PE32+. */
  opt16(off: number): number {
    return this.b.u16At(this.optOffset + off);
  }
  opt32(off: number): number {
    return this.b.u32At(this.optOffset + off);
  }
  /** a pointer-sized optional-header field: PE32 offset `off32`, PE32+ offset `off64`. */
  optPtr(off32: number, off64: number): number | bigint {
    if (!this.is64) return this.b.u32At(this.optOffset + off32);
    const v = this.b.u64(this.optOffset + off64) ?? 0n;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : BigInt.asIntN(64, v);
  }
  get imageBase(): number | bigint {
    return this.optPtr(28, 24);
  }
  get entryPointRva(): number {
    return this.opt32(16);
  }
  get fileAlignment(): number {
    return this.opt32(36);
  }
  get sizeOfImage(): number {
    return this.opt32(56);
  }
  get numberOfRvaAndSizes(): number {
    return this.is64 ? this.opt32(108) : this.opt32(92);
  }
  /** file offset of the data directory array. */
  get dataDirOffset(): number {
    return this.optOffset + (this.is64 ? 112 : 96);
  }
  /** file offset of the CheckSum field. */
  get checksumOffset(): number {
    return this.optOffset + 64;
  }

  /**
   * A data directory entry ({ virtualAddress, size }), or undefined when the entry starts beyond
   * the optional header (YARA deliberately ignores NumberOfRvaAndSizes here).
   */
  directory(entry: number): { virtualAddress: number; size: number; offset: number } | undefined {
    if (entry < 0 || entry >= 16) return undefined;
    const o = this.dataDirOffset + entry * 8;
    if (o > this.optOffset + this.sizeOfOptionalHeader) return undefined;
    if (!this.b.fits(o, 8)) return undefined;
    return { virtualAddress: this.b.u32At(o), size: this.b.u32At(o + 4), offset: o };
  }

  /** Maps an RVA to a file offset, or -1 when it maps nowhere in the file. */
  rvaToOffset(rva: number | bigint): number {
    let r: number;
    if (typeof rva === "bigint") {
      if (rva < 0n || rva > BigInt(Number.MAX_SAFE_INTEGER)) return -1;
      r = Number(rva);
    } else {
      r = Math.trunc(rva);
    }
    if (!(r >= 0) || !this.allSectionsFit) return -1;
    let lowest = 0xffffffff;
    let sectionRva = 0;
    let sectionOffset = 0;
    let sectionRawSize = 0;
    const alignment = Math.min(this.fileAlignment, 0x200);
    for (const s of this.sections) {
      if (lowest > s.virtualAddress) lowest = s.virtualAddress;
      if (r >= s.virtualAddress && r - s.virtualAddress < s.virtualSize && sectionRva <= s.virtualAddress) {
        sectionRva = s.virtualAddress;
        sectionOffset = s.rawDataOffset;
        sectionRawSize = s.rawDataSize;
        if (alignment) {
          const rest = sectionOffset % alignment;
          if (rest) sectionOffset -= rest;
        }
      }
    }
    if (r < lowest) {
      sectionRva = 0;
      sectionOffset = 0;
      sectionRawSize = this.b.size;
    }
    const delta = r - sectionRva;
    if (delta < 0 || delta >= sectionRawSize) return -1;
    const result = sectionOffset + delta;
    if (result >= this.b.size) return -1;
    return result;
  }
}
