// Paths as bytes: the lossless string form of file names that are not valid UTF-8 (bytepath.ts).
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import {
  escapeRawBytes,
  fsPath,
  hasRawBytes,
  jsonRawBytes,
  pathFromBytes,
  pathToBytes,
  printable,
  printableToBytes,
} from "@vigil/scanner";

const samples = [
  Buffer.from("inv\xffalid.exe", "latin1"),
  Buffer.from("bad\xc3\x28.exe", "latin1"),
  Buffer.from("new\nline.exe"),
  Buffer.from("café.exe"),
  Buffer.from("\xed\xa0\x80 surrogate in CESU", "latin1"),
  Buffer.from("\xc0\xaf overlong", "latin1"),
  Buffer.from("\xf4\x90\x80\x80 past U+10FFFF", "latin1"),
  Buffer.from("\u{1F600} and \ufffd as themselves"),
  Buffer.from("trail \xe2\x82", "latin1"),
  Buffer.from("lit\\xff\\x5c", "latin1"),
];

describe("byte paths", () => {
  it("every byte string maps to one string and back", () => {
    const all = [...samples];
    for (let i = 0; i < 3000; i++) {
      const b = randomBytes(1 + (i % 24));
      // bias towards UTF-8 lead and continuation bytes
      for (let k = 0; k < b.length; k++) if (i % 3 === 0) b[k] = 0x80 | (b[k]! & 0x7f);
      all.push(b);
    }
    for (const b of all) {
      const s = pathFromBytes(b);
      expect(pathToBytes(s).equals(b)).toBe(true);
      expect(printableToBytes(printable(s)).equals(b)).toBe(true);
      expect(
        Buffer.isBuffer(fsPath(s)) ? (fsPath(s) as Buffer).equals(b) : Buffer.from(fsPath(s) as string).equals(b),
      ).toBe(true);
      // the printed form is valid Unicode and has no line breaks
      expect(printable(s)).not.toMatch(/[\n\r]|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      // JSON text stays valid, Unicode-clean and parses to the \xNN form
      const j = jsonRawBytes(JSON.stringify({ p: s, q: `\\${s}\\\\` }));
      expect(j).not.toMatch(/\\ud[c-f]/);
      expect(JSON.parse(j)).toEqual({ p: escapeRawBytes(s), q: `\\${escapeRawBytes(s)}\\\\` });
    }
  });

  it("valid UTF-8 names are plain strings; others print as \\xNN", () => {
    expect(pathFromBytes(Buffer.from("café.exe"))).toBe("café.exe");
    expect(hasRawBytes("café.exe")).toBe(false);
    expect(fsPath("café.exe")).toBe("café.exe");
    const s = pathFromBytes(samples[0]!);
    expect(hasRawBytes(s)).toBe(true);
    expect(printable(s)).toBe("inv\\xffalid.exe");
    expect(printable(pathFromBytes(samples[1]!))).toBe("bad\\xc3(.exe");
    expect(printable("new\nline")).toBe("new\\x0aline");
    // a literal backslash-x-hex in a name cannot be mistaken for an escape
    expect(printable("lit\\xff")).toBe("lit\\x5cxff");
    expect(printable("C:\\dir")).toBe("C:\\dir");
    expect(printable("\u{1F600}\uDCFF")).toBe("\u{1F600}\\xff");
  });
});
