import { describe, expect, it } from "vitest";
import { Progress, useColor } from "../src/progress.js";
import { parseSize, parseCount } from "../src/options.js";

describe("progress line", () => {
  it("shows counts, rates, detections, ETA and the current path within the terminal width", () => {
    let written = "";
    const p = new Progress({ write: (s: string) => (written += s), columns: 80 }, false, 0);
    p.setTotal(10);
    p.update("/some/very/long/path/".repeat(10) + "file.bin", 1024 * 1024, 1);
    const line = p.line();
    expect(line).toMatch(/^1\/10 files \d+ files\/s [\d.]+ MB\/s 1 found ETA \d+:\d\d /);
    expect(line.length).toBeLessThanOrEqual(79);
    expect(line.endsWith("file.bin")).toBe(true);
    expect(written.startsWith("\r\x1b[K")).toBe(true);
    p.clear();
    expect(written.endsWith("\r\x1b[K")).toBe(true);
  });

  it("colour follows NO_COLOR, FORCE_COLOR and the terminal", () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(useColor({ isTTY: true }, { TERM: "dumb" })).toBe(false);
  });

  it("parses sizes and counts, and rejects nonsense", () => {
    expect(parseSize("25M")).toBe(25 * 1024 * 1024);
    expect(parseSize("100k")).toBe(102400);
    expect(parseSize("512")).toBe(512);
    expect(parseSize("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(() => parseSize("lots")).toThrow(/invalid size/);
    expect(() => parseCount("-1", "--max-files")).toThrow(/whole number/);
  });
});
