// A detection in a file whose name is not valid UTF-8 can be hashed again for its report
// (the scanner's path string holds the name's bytes; see @vigil/scanner fsPath).
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileSha256 } from "@vigil/agent";
import { pathFromBytes } from "@vigil/scanner";
import { EICAR } from "@vigil/test-kit";

describe("agent: byte paths", () => {
  it("fileSha256 reads a file named inv\\xffalid.exe", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-agent-bytes-"));
    const bytes = Buffer.from(`${dir}/inv\xffalid.exe`, "latin1");
    writeFileSync(bytes, EICAR);
    expect(await fileSha256(pathFromBytes(bytes))).toBe(createHash("sha256").update(EICAR).digest("hex"));
    rmSync(dir, { recursive: true, force: true });
  });
});
