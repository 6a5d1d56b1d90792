import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { STARTER_RULES_DIR } from "../src/index.js";
import { starter } from "./helpers/detector.js";
import { EICAR, needs } from "@vigil/test-kit";

const names = (b: Uint8Array) =>
  starter()
    .detector.scan(b, { path: "t", size: b.length })
    .map((m) => m.meta?.clamav_name ?? m.rule);

describe("built-in starter rules", () => {
  it("detect the EICAR file (with trailing whitespace), not EICAR embedded in a larger file", () => {
    expect(names(Buffer.from(EICAR))).toEqual(["Win.Test.EICAR_HDB-1"]);
    expect(names(Buffer.from(EICAR + "   \r\n"))).toEqual(["Win.Test.EICAR_HDB-1"]);
    expect(names(Buffer.from("prefix " + EICAR))).toEqual([]);
    expect(names(Buffer.concat([Buffer.from(EICAR), Buffer.alloc(200, 0x20)]))).toEqual([]);
  });

  it("detect EICAR as UTF-16LE text, with or without a byte order mark", () => {
    const w = Buffer.from(EICAR, "utf16le");
    expect(names(w)).toEqual(["Vigil.Test.EICAR_UTF16"]);
    expect(names(Buffer.concat([Buffer.from([0xff, 0xfe]), w]))).toEqual(["Vigil.Test.EICAR_UTF16"]);
  });

  it("detect GTUBE, and not themselves", () => {
    const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
    expect(names(Buffer.from(`Subject: test\n\n${gtube}\n`))).toEqual(["Vigil.Test.GTUBE"]);
    for (const f of readdirSync(STARTER_RULES_DIR)) expect(names(readFileSync(join(STARTER_RULES_DIR, f)))).toEqual([]);
    expect(starter().detector.signatures).toBe(4);
  });

  const CLAM_EXE = "/usr/share/clamav-testfiles/clam.exe";
  it.skipIf(needs("starter rules on ClamAV's test program", { debianFiles: [CLAM_EXE] }))(
    "detect ClamAV's test program",
    () => {
      expect(names(readFileSync(CLAM_EXE))).toEqual(["Clamav.Test.File-6"]);
    },
  );
});
