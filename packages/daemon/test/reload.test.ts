import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { connect } from "node:net";
import { Engines } from "@vigil/daemon";
import type { Detector } from "@vigil/scanner";
import { chunked, startDaemon, talk, tempDir, type Running } from "./helpers.js";

const rule = (name: string, text: string) => `rule ${name} { strings: $a = "${text}" condition: $a }\n`;

describe("RELOAD without dropping connections", () => {
  let d: Running;
  let files: ReturnType<typeof tempDir>;
  let rules: string;
  beforeAll(async () => {
    files = tempDir();
    rules = files.file("r.yar", rule("Old_Rule", "OLD-MARKER"));
    d = await startDaemon({ signatures: { builtin: false, rules: [rules] }, jobs: 1 });
  });
  afterAll(async () => {
    await d.stop();
    files.cleanup();
  });

  it("a session open across a reload keeps working and sees the new rules", async () => {
    const s = connect(d.port, "127.0.0.1");
    let got = "";
    s.on("data", (b) => (got += b));
    const ended = new Promise<void>((r) => s.on("end", () => r()));
    await new Promise((r) => s.once("connect", r));
    s.write("nIDSESSION\nnINSTREAM\n");
    s.write(chunked("has OLD-MARKER and NEW-MARKER"));
    while (!got.includes("1: ")) await new Promise((r) => setTimeout(r, 10));
    expect(got).toBe("1: stream: Old_Rule FOUND\n");

    writeFileSync(rules, rule("New_Rule", "NEW-MARKER"));
    const before = d.daemon.service.engines.generation.version;
    expect((await talk(d.port, ["nRELOAD\n"])).text).toBe("RELOADING\n");
    while (d.daemon.service.engines.generation.version === before) await new Promise((r) => setTimeout(r, 10));

    s.write("nINSTREAM\n");
    s.write(chunked("has OLD-MARKER and NEW-MARKER"));
    s.write("nEND\n");
    await ended;
    expect(got).toBe("1: stream: Old_Rule FOUND\n2: stream: New_Rule FOUND\n");
  });

  it("rules that fail to load keep the old ones, and the daemon keeps serving", async () => {
    const before = d.daemon.service.engines.generation.version;
    writeFileSync(rules, "rule Broken { condition: ");
    await expect(d.daemon.reload()).rejects.toMatchObject({ code: "RELOAD_FAILED" });
    expect(d.daemon.service.engines.generation.version).toBe(before);
    expect((await talk(d.port, ["zINSTREAM\0", chunked("NEW-MARKER")])).text).toBe("stream: New_Rule FOUND\0");
  });
});

describe("RELOAD after a bundle swap", () => {
  it("rules read through a `current` symlink (as vigil update swaps it) are re-resolved on RELOAD", async () => {
    const { mkdirSync, renameSync, symlinkSync } = await import("node:fs");
    const { join } = await import("node:path");
    const files = tempDir();
    mkdirSync(join(files.dir, "bundles"));
    files.file("bundles/v1/rules.yar", rule("Bundle_V1", "BUNDLE-MARK"));
    files.file("bundles/v2/rules.yar", rule("Bundle_V2", "BUNDLE-MARK"));
    files.file("bundles/v2/manifest.json", "{}");
    const current = join(files.dir, "current");
    symlinkSync("bundles/v1", current);
    const d = await startDaemon({ signatures: { builtin: false, rules: [current] } });
    expect((await talk(d.port, ["zINSTREAM\0", chunked("BUNDLE-MARK")])).text).toBe("stream: Bundle_V1 FOUND\0");
    symlinkSync("bundles/v2", `${current}.tmp`);
    renameSync(`${current}.tmp`, current);
    const before = d.daemon.service.engines.generation.version;
    expect((await talk(d.port, ["zRELOAD\0"])).text).toBe("RELOADING\0");
    while (d.daemon.service.engines.generation.version === before) await new Promise((r) => setTimeout(r, 10));
    expect((await talk(d.port, ["zINSTREAM\0", chunked("BUNDLE-MARK")])).text).toBe("stream: Bundle_V2 FOUND\0");
    await d.stop();
    files.cleanup();
  });
});

describe("Engines: scans in flight finish on the old rules", () => {
  it("a slow scan started before a reload reports the old rules; the old pool closes when it ends", async () => {
    const files = tempDir();
    // a detector for worker threads that takes 400 ms and names the rule set it came from
    const mod = files.file(
      "slow.mjs",
      `
      export function createDetector(init) {
        return { version: init.tag, signatures: 1, scan() {
          const end = Date.now() + init.delay; while (Date.now() < end) {}
          return [{ rule: init.tag }];
        } };
      }`,
    );
    let n = 0;
    const build = () => {
      const tag = `Rules_${++n}`;
      const detector: Detector = { version: tag, signatures: 1, scan: () => [{ rule: tag }] };
      return {
        detector,
        spec: { module: pathToFileURL(mod).href, init: { tag, delay: 400 } },
        warnings: [],
        signatures: 1,
      };
    };
    const engines = new Engines({ signatures: {}, jobs: 1 }, build);
    const lease = engines.lease();
    const inFlight = lease.generation.scanner.scanBuffer(new Uint8Array(10), "x");
    await new Promise((r) => setTimeout(r, 50));
    const next = await engines.reload();
    expect(next.version).toBe("Rules_2");
    const fresh = engines.lease();
    const after = await fresh.generation.scanner.scanBuffer(new Uint8Array(10), "y");
    fresh.release();
    const old = await inFlight;
    expect(old.detections.map((x) => x.rule)).toEqual(["Rules_1"]);
    expect(after.detections.map((x) => x.rule)).toEqual(["Rules_2"]);
    // the old generation is retired, and closed once its last lease ends
    expect(lease.generation.retired).toBe(true);
    lease.release();
    await new Promise((r) => setTimeout(r, 50));
    const closed = await lease.generation.scanner.scanBuffer(new Uint8Array(10), "z");
    expect(closed.errors[0]?.code).toBe("WORKER_FAILED");
    await engines.close();
    files.cleanup();
  });
});
