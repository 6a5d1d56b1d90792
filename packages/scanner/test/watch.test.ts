import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, appendFileSync, unlinkSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Scanner, WatchSession, entropy, pathToBytes, type WatchEvent } from "../src/index.js";
import { starter } from "./helpers/detector.js";
import { EICAR } from "@vigil/test-kit";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out waiting for watch events");
    await sleep(50);
  }
}

function session(dir: string, opts: ConstructorParameters<typeof WatchSession>[3] = {}) {
  const scanner = new Scanner({ ...starter(), jobs: 0 });
  const events: WatchEvent[] = [];
  const s = new WatchSession(scanner, [dir], (e) => events.push(e), { settleMs: 150, ...opts });
  return { s, events, scanner };
}

const text = (n: number) =>
  Buffer.from("Dear diary, today was an ordinary day. ".repeat(Math.ceil(n / 39))).subarray(0, n);

describe("entropy", () => {
  it("is 0 for constant bytes and near 8 for random bytes", () => {
    expect(entropy(Buffer.alloc(1000, 7))).toBe(0);
    expect(entropy(randomBytes(65536))).toBeGreaterThan(7.9);
    expect(entropy(text(5000))).toBeLessThan(5);
    expect(entropy(new Uint8Array(0))).toBe(0);
  });
});

describe("WatchSession", () => {
  it("scans files once writes settle, through directory creation, rename and deletion", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-watch-"));
    const { s, events } = session(dir, { ransomware: false, settleMs: 700 });
    await s.start();
    const results = () => events.flatMap((e) => (e.type === "result" ? [e.result] : []));
    // a file written in several bursts is scanned once, after it settles
    const slow = join(dir, "slow.com");
    writeFileSync(slow, EICAR.slice(0, 20));
    await sleep(60);
    appendFileSync(slow, EICAR.slice(20, 40));
    await sleep(60);
    appendFileSync(slow, EICAR.slice(40));
    await until(() => results().length >= 1);
    await sleep(300);
    expect(results().filter((r) => r.path === slow)).toHaveLength(1);
    expect(results()[0]!.detections.map((d) => d.name)).toEqual(["Win.Test.EICAR_HDB-1"]);
    // new nested directories, renamed, then written into
    mkdirSync(join(dir, "a/b/c"), { recursive: true });
    writeFileSync(join(dir, "a/b/c/one.com"), EICAR);
    await until(() => results().some((r) => r.path.endsWith("one.com")));
    renameSync(join(dir, "a"), join(dir, "z"));
    await sleep(300);
    writeFileSync(join(dir, "z/b/c/two.com"), EICAR);
    await until(() => results().some((r) => r.path === join(dir, "z/b/c/two.com")));
    rmSync(join(dir, "z"), { recursive: true });
    await sleep(300);
    mkdirSync(join(dir, "z"));
    writeFileSync(join(dir, "z/three.txt"), "clean");
    await until(() => results().some((r) => r.path === join(dir, "z/three.txt")));
    // a file deleted before it settles is not reported
    writeFileSync(join(dir, "brief.tmp"), "x");
    unlinkSync(join(dir, "brief.tmp"));
    await sleep(500);
    expect(results().some((r) => r.path.endsWith("brief.tmp"))).toBe(false);
    expect(events.some((e) => e.type === "watch-error")).toBe(false);
    await s.close();
  });

  it("a file whose name is not UTF-8 is scanned under its exact name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-watch-bytes-"));
    const { s, events } = session(dir, { ransomware: false });
    await s.start();
    const results = () => events.flatMap((e) => (e.type === "result" ? [e.result] : []));
    writeFileSync(Buffer.from(`${dir}/inv\xffalid.exe`, "latin1"), EICAR);
    await until(() => results().length >= 1);
    await s.close();
    const r = results()[0]!;
    expect(pathToBytes(r.path).equals(Buffer.from(`${dir}/inv\xffalid.exe`, "latin1"))).toBe(true);
    expect(r.detections.map((d) => d.name)).toEqual(["Win.Test.EICAR_HDB-1"]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a file that keeps changing is still scanned after maxWaitMs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-grow-"));
    const { s, events } = session(dir, { ransomware: false, maxWaitMs: 400 });
    await s.start();
    const log = join(dir, "app.log");
    writeFileSync(log, EICAR);
    const stopAt = Date.now() + 1500;
    let resultsWhileWriting = 0;
    while (Date.now() < stopAt) {
      appendFileSync(log, "\nline");
      await sleep(50);
      resultsWhileWriting = events.filter((e) => e.type === "result").length;
    }
    expect(resultsWhileWriting).toBeGreaterThanOrEqual(1);
    await s.close();
  });

  it("raises one ransomware alert for a burst of files rewritten to high entropy, with evidence", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-ransom-"));
    mkdirSync(join(dir, "docs"));
    for (let i = 0; i < 12; i++) writeFileSync(join(dir, "docs", `doc${i}.txt`), text(4000 + i));
    const { s, events } = session(dir, { ransomware: { minFiles: 8, windowMs: 60_000 } });
    await s.start();
    expect(events[0]).toMatchObject({ type: "ready", baselineFiles: 12 });
    // normal edits: not an alert
    for (let i = 0; i < 3; i++) appendFileSync(join(dir, "docs", `doc${i}.txt`), " more words");
    await until(() => events.filter((e) => e.type === "result").length >= 3);
    expect(events.some((e) => e.type === "ransomware")).toBe(false);
    // the burst: 6 rewritten in place, 6 replaced by .locked siblings
    for (let i = 0; i < 6; i++) writeFileSync(join(dir, "docs", `doc${i}.txt`), randomBytes(4000));
    for (let i = 6; i < 12; i++) {
      writeFileSync(join(dir, "docs", `doc${i}.txt.locked`), randomBytes(4000));
      unlinkSync(join(dir, "docs", `doc${i}.txt`));
    }
    await until(() => events.some((e) => e.type === "ransomware"));
    await sleep(500);
    const alerts = events.filter((e) => e.type === "ransomware");
    expect(alerts).toHaveLength(1);
    const a = alerts[0] as Extract<WatchEvent, { type: "ransomware" }>;
    expect(a.name).toBe("Vigil.Heuristic.Ransomware.MassEncryption");
    expect(a.files).toBeGreaterThanOrEqual(8);
    for (const ev of a.evidence) {
      expect(ev.entropyBefore).toBeLessThan(6);
      expect(ev.entropyAfter).toBeGreaterThan(7.5);
    }
    expect(a.evidence.some((e) => e.kind === "rewritten")).toBe(true);
    await s.close();
  });
});
