// Issue 17 leftover: an xz block's integrity check (CRC32, CRC64, SHA-256) is verified. A
// mismatch is damage reported beside the result; the block's bytes are still scanned (as
// `xz -dc` writes them out before it complains), so EICAR in them is still found.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { EICAR, needs } from "@vigil/test-kit";
import { DEFAULT_LIMITS, scanBytes } from "../src/index.js";
import { crc64, unxzSalvage } from "../src/archive/xz.js";
import { withRules } from "./helpers/detector.js";

const detector = withRules(
  `rule EICAR_Test_File { strings: $e = "${EICAR.replace(/\\/g, "\\\\")}" condition: $e at 0 }`,
).detector;
const noXz = needs("xz integrity fixtures", { tools: ["xz"] });
const xz = (data: Uint8Array, check: string) => {
  const r = spawnSync("xz", ["-z", "-c", `--check=${check}`], { input: data });
  return new Uint8Array(r.stdout);
};
const eicarAndText = Buffer.concat([Buffer.from(EICAR), Buffer.from("\n".repeat(3) + "x".repeat(5000))]);
/** Stored check bytes sit just before the index; flipping the last of them damages only the check. */
function flipStoredCheck(b: Uint8Array, checkSize: number): Uint8Array {
  const copy = new Uint8Array(b);
  // footer: 12 bytes; backward size gives the index size
  const backward = (new DataView(copy.buffer).getUint32(copy.length - 8, true) + 1) * 4;
  const indexStart = copy.length - 12 - backward;
  copy[indexStart - 1] ^= 0x55;
  expect(checkSize).toBeGreaterThan(0);
  return copy;
}

describe("xz integrity checks", () => {
  it("CRC-64 of the standard check string is xz's published value", () => {
    const c = crc64(Buffer.from("123456789"));
    // ECMA-182 reflected (CRC-64/XZ): 0x995DC9BBDF1939FA
    expect(c.hi.toString(16)).toBe("995dc9bb");
    expect(c.lo.toString(16)).toBe("df1939fa");
  });

  for (const [check, size] of [
    ["crc32", 4],
    ["crc64", 8],
    ["sha256", 32],
  ] as const) {
    it.skipIf(noXz)(`--check=${check}: intact decodes clean; a flipped check is damage, EICAR still found`, () => {
      const good = xz(eicarAndText, check);
      const ok = unxzSalvage(good, 1 << 20);
      expect(ok.error).toBeUndefined();
      expect(Buffer.from(ok.data).equals(eicarAndText)).toBe(true);

      const bad = flipStoredCheck(good, size);
      const salvaged = unxzSalvage(bad, 1 << 20);
      expect(salvaged.error?.message).toMatch(/integrity check failed/);
      expect(Buffer.from(salvaged.data).equals(eicarAndText)).toBe(true);
      // xz itself refuses it too: the flip damaged exactly the check
      expect(spawnSync("xz", ["-t"], { input: bad }).status).not.toBe(0);

      const r = scanBytes(detector, bad, "e.com.xz", { limits: DEFAULT_LIMITS });
      expect(r.detections.map((d) => d.path)).toEqual(["e.com.xz!e.com"]);
      expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
      expect(r.incomplete[0]!.message).toMatch(/integrity check failed/);
    });
  }

  it.skipIf(noXz)("--check=none still decodes", () => {
    const r = unxzSalvage(xz(eicarAndText, "none"), 1 << 20);
    expect(r.error).toBeUndefined();
    expect(r.data.length).toBe(eicarAndText.length);
  });
});
