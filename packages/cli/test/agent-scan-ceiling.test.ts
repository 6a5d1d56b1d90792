/**
 * `vigil agent config` (the built bin) sets the tags and the scan ceiling (how far the server's
 * scan policy may go), refuses a malformed tag or on/off value with BAD_OPTION, and `vigil agent
 * status` shows the effective scan settings and tags.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";

const BIN = join(__dirname, "../bin/vigil.js");
const built = existsSync(join(__dirname, "../dist/commands/agent.js"));
if (!built) console.log("agent CLI tests need the build (npm test runs tsc -b first): not run");

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 99) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!built)("vigil agent config: tags and the scan ceiling", () => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-agent-ceiling-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // an enrolled endpoint's configuration, written as enrolment would (no server needed to configure)
  new agent.AgentFiles(dir).saveConfig(
    agent.AgentConfig.parse({
      format: "vigil-agent/v1",
      server: "http://127.0.0.1:9",
      endpointId: "e1",
      key: "vgk_e1.secret",
      policyKey: "AAAA",
      policyKeyId: "k1",
      enrolledAt: 1,
    }),
  );
  const S = ["--state", dir];

  test("sets tags and the ceiling, shown in status", async () => {
    const r = await vigil([
      "agent",
      "config",
      ...S,
      "--tag",
      "kiosk",
      "--tag",
      "eu-west",
      "--server-scan-root",
      "/srv",
      "--server-scan-min",
      "1h",
      "--server-quarantine",
      "on",
      "--json",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      tags: ["kiosk", "eu-west"],
      scanCeiling: { accept: true, roots: ["/srv"], minEveryMinutes: 60, quarantine: true },
    });
    const st = await vigil(["agent", "status", ...S]);
    expect(st.stdout).toContain("tags:          kiosk, eu-west");
    expect(st.stdout).toMatch(/scan: +no scheduled scan; on detection: report/);
    const off = await vigil(["agent", "config", ...S, "--server-scan", "off", "--clear-tags", "--json"]);
    expect(JSON.parse(off.stdout)).toMatchObject({ tags: [], scanCeiling: { accept: false } });
  });

  test("refuses a malformed tag and a bad on/off, changing nothing", async () => {
    const bad = await vigil(["agent", "config", ...S, "--tag", "no spaces"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("invalid tag");
    expect(bad.stderr).toContain("BAD_OPTION");
    const onoff = await vigil(["agent", "config", ...S, "--server-quarantine", "yes"]);
    expect(onoff.code).toBe(2);
    expect(onoff.stderr).toContain("--server-quarantine is on or off");
    expect(new agent.AgentFiles(dir).config().scanCeiling.quarantine).toBe(true);
  });
});
