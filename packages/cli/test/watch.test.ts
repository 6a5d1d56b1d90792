// End-to-end test of `vigil watch`: the built bin watching a temporary tree.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EICAR } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("vigil watch (end to end)", () => {
  it("scans new files, quarantines, logs ndjson events and raises the ransomware alert", async () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-wcli-"));
    const w = join(d, "watched");
    mkdirSync(join(w, "docs"), { recursive: true });
    for (let i = 0; i < 10; i++)
      writeFileSync(join(w, "docs", `n${i}.txt`), "plain words and more plain words ".repeat(100));
    const log = join(d, "events.ndjson");
    const child = spawn(
      process.execPath,
      [
        BIN,
        "watch",
        w,
        "--settle",
        "150",
        "--event-log",
        log,
        "--quarantine-dir",
        join(d, "vault"),
        "--ransomware-files",
        "6",
        "--ransomware-window",
        "60000",
        "--format",
        "ndjson",
      ],
      { env: { ...process.env, NO_COLOR: "1" } },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    const end = Date.now() + 45_000;
    while (!err.includes("watching") && Date.now() < end) await sleep(50);
    mkdirSync(join(w, "new/sub"), { recursive: true });
    writeFileSync(join(w, "new/sub/eicar.com"), EICAR);
    renameSync(join(w, "new"), join(w, "moved"));
    await sleep(400);
    writeFileSync(join(w, "moved/sub/later.com"), EICAR);
    for (let i = 0; i < 8; i++) writeFileSync(join(w, "docs", `n${i}.txt`), randomBytes(3000));
    while (!out.includes("Ransomware") && Date.now() < end) await sleep(100);
    while (existsSync(join(w, "moved/sub/later.com")) && Date.now() < end) await sleep(100);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(1);
    const events = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events[0].type).toBe("ready");
    const det = events.filter((e) => e.type === "detection");
    const paths = det.map((e) => e.path);
    expect(paths).toHaveLength(2);
    expect(paths).toContain(join(w, "moved/sub/later.com"));
    expect(paths.some((p) => p.endsWith("sub/eicar.com"))).toBe(true);
    expect(det.every((e) => typeof e.quarantined === "string")).toBe(true);
    expect(existsSync(join(w, "moved/sub/later.com"))).toBe(false);
    const rw = events.find((e) => e.type === "ransomware");
    expect(rw.name).toBe("Vigil.Heuristic.Ransomware.MassEncryption");
    expect(rw.evidence.length).toBeGreaterThanOrEqual(6);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.some((l) => l.type === "ransomware")).toBe(true);
    expect(lines.filter((l) => l.type === "file").length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1).type).toBe("summary");
  });
});
