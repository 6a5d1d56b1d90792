/**
 * From "found" to "handled as a false positive", end to end, on each database the harness has:
 * a real `vigil agent` (the built bin, as a process) enrolled with a token as an administrator
 * would, against a real server on 127.0.0.1, scans a directory holding a harmless in-house file
 * that a custom YARA rule of the endpoint's (`vigil agent config --rules`) detects, and the
 * EICAR string (built at run time). Both detections arrive and become alerts. An analyst logs
 * into the console in Debian's chromium (playwright-core), opens the alert list and the in-house
 * file's alert, and marks it a false positive in the browser. The verdict reaches the agent
 * through the fleet's hash reputation: its next scan of the same files reports EICAR again and
 * not the in-house file (counted allow-listed in the scan report), the false-positive alert's
 * count does not move and no alert is new but EICAR's. The change is in the audit log. Any
 * script error, CSP violation or HTTP error in the browser fails the test.
 * Screenshots: test-artifacts/console/fp-e2e-{alerts,alert,alert-after}-<database>.png.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, needs } from "@vigil/test-kit";
import { dialects, startTestServer, type TestServer } from "@vigil/test-kit/server";

const BIN = join(__dirname, "../bin/vigil.js");
const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/console/", import.meta.url));
const built = existsSync(join(__dirname, "../dist/commands/agent.js"));
if (!built) console.log("the false-positive end-to-end test needs the build (npx tsc -b): not run");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function vigil(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === "number"
          ? (err as { code: number }).code
          : 99
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// the EICAR test string, assembled at run time so that no file of this repository contains it
const EICAR = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS", "-TEST-FILE!$H+H*"].join("");
// a harmless in-house tool that the endpoint's own rule flags (the false positive)
const TOOL = "#!/bin/sh\n# ACME-INTERNAL-DEPLOY-HELPER v2: copies build output to the staging share\necho deploying\n";
const RULE = `rule Acme_Suspicious_Deploy_Script
{
    meta:
        description = "flags scripts that copy to shares (too broad: it also hits our own deploy helper)"
        severity = "high"
    strings:
        $a = "DEPLOY-HELPER"
    condition:
        $a
}
`;
const sha = (b: string) => createHash("sha256").update(b).digest("hex");
const ANALYST = { username: "ana", password: "analyst-test-pw-1" };

const databases = built ? await dialects() : ["sqlite" as const];
const browserSkip = needs("the false-positive end-to-end test in chromium", { chromium: true });

describe.skipIf(!built || browserSkip).each(databases)(
  "false positive, agent to browser and back, on %s",
  (dialect) => {
    const root = mkdtempSync(join(tmpdir(), "vigil-fp-e2e-"));
    const state = join(root, "agent");
    const scanDir = join(root, "scan");
    let server: TestServer;
    let admin: { cookie: string; csrf: string };
    let context: BrowserContext;
    let page: Page;
    let profile: string;
    const problems: string[] = [];
    const S = ["--state", state];

    const scanOnce = async () => {
      const r = await vigil(["agent", "run", "--once", "--scan", "--json", "-q", ...S]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const alerts = async (query = "") =>
      (await server.call("GET", `/api/admin/alerts?limit=1000${query}`, admin)).json as {
        alerts: any[];
        total: number;
      };

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      mkdirSync(scanDir, { recursive: true });
      writeFileSync(join(scanDir, "deploy-helper.sh"), TOOL, { mode: 0o755 });
      writeFileSync(join(scanDir, "eicar.com"), EICAR);
      writeFileSync(join(scanDir, "readme.txt"), "nothing to see here\n");
      writeFileSync(join(root, "acme.yar"), RULE);
      server = await startTestServer({ dialect, logLevel: "silent" });
      admin = await server.loginAdmin();
      const u = await server.call("POST", "/api/admin/users", { ...admin, body: { ...ANALYST, role: "analyst" } });
      expect(u.status, u.text).toBe(201);
      profile = mkdtempSync(join(tmpdir(), "vigil-chromium-"));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        viewport: { width: 1366, height: 768 },
        timeout: 60_000,
      });
      page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultTimeout(20_000);
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console error: ${m.text()}`);
      });
      page.on("response", (r) => {
        if (r.status() >= 400)
          problems.push(`HTTP ${r.status()} for ${r.request().method()} ${new URL(r.url()).pathname}`);
      });
    }, 180_000);

    afterAll(async () => {
      await context?.close().catch(() => {});
      await server?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    });

    it("an agent's detection, marked false positive in the browser, is not reported by its next scan", async () => {
      // the administrator's side: an enrolment token; the endpoint's side: enrol, its own rule, the scan path
      const token = await server.createToken({ label: "fp-e2e" });
      const enrol = await vigil(["agent", "enroll", server.url, token, ...S, "--hostname", "build-07", "--json"]);
      expect(enrol.code, enrol.stderr).toBe(0);
      const endpointId = JSON.parse(enrol.stdout).endpointId as string;
      const cfg = await vigil(["agent", "config", ...S, "--scan", scanDir, "--rules", join(root, "acme.yar")]);
      expect(cfg.code, cfg.stderr).toBe(0);
      const policy = (await server.call("GET", "/api/admin/policy", admin)).json;
      expect(policy.reputation.enabled).toBe(true); // the default: agents may ask the fleet about hashes

      // 1. the first scan finds both files; both reach the server and become alerts
      const first = await scanOnce();
      expect(first).toMatchObject({ contacted: true, scan: { files: 3, detections: 2, allowListed: 0 }, queued: 0 });
      const a1 = await alerts();
      expect(a1.total).toBe(2);
      const toolAlert = a1.alerts.find((a) => a.sha256 === sha(TOOL));
      const eicarAlert = a1.alerts.find((a) => a.sha256 === sha(EICAR));
      expect(toolAlert).toMatchObject({ endpointId, rule: "Acme_Suspicious_Deploy_Script", state: "new", count: 1 });
      expect(eicarAlert).toMatchObject({ endpointId, state: "new", count: 1 });

      // 2. the analyst, in the browser: log in, Alerts, open the in-house file's alert, false positive
      await page.goto(`${server.url}/console/login`);
      await page.getByLabel("Username").fill(ANALYST.username);
      await page.getByLabel("Password").fill(ANALYST.password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.waitForURL(/\/console\/$/);
      await page
        .getByRole("navigation", { name: "Console" })
        .getByRole("link", { name: "Alerts", exact: true })
        .click();
      await page.waitForURL(/\/console\/alerts$/);
      const rows = page.locator("#alerts-table tbody tr");
      expect(await rows.count()).toBe(2);
      const toolRow = rows.filter({ hasText: "Acme_Suspicious_Deploy_Script" });
      expect(await toolRow.textContent()).toContain("build-07");
      await page.screenshot({ path: join(ARTIFACTS, `fp-e2e-alerts-${dialect}.png`), fullPage: true });
      await toolRow.getByRole("link", { name: "Acme_Suspicious_Deploy_Script" }).click();
      await page.waitForURL(new RegExp(`/console/alerts/${toolAlert.id}$`));
      const main = page.locator("main");
      expect(await main.textContent()).toContain(sha(TOOL).slice(0, 12));
      await page.screenshot({ path: join(ARTIFACTS, `fp-e2e-alert-${dialect}.png`), fullPage: true });
      await page.locator("#one-state").selectOption("false_positive");
      await page.getByLabel("Comment (optional)").fill("our own deploy helper; the rule is too broad");
      await page.getByRole("button", { name: "Change state" }).click();
      await page.waitForURL(/done=state$/);
      const after = (await main.textContent()) ?? "";
      expect(after).toMatch(/false positive by ana/);
      expect(after).toContain("our own deploy helper; the rule is too broad");
      await page.screenshot({ path: join(ARTIFACTS, `fp-e2e-alert-after-${dialect}.png`), fullPage: true });

      // the server: the hash is clean in the fleet's reputation; the change is in the audit log
      expect((await server.call("GET", `/api/admin/reputation/${sha(TOOL)}`, admin)).json.verdict).toBe("clean");
      const audit = (await server.call("GET", "/api/admin/audit?action=alert.state", admin)).json.entries as any[];
      expect(audit.find((e) => e.target === toolAlert.id)).toMatchObject({
        username: ANALYST.username,
        detail: { state: "false_positive", allowListed: 1 },
      });

      // 3. the agent's next scan of the same files: EICAR is reported again, the in-house file is not
      const second = await scanOnce();
      expect(second).toMatchObject({ contacted: true, scan: { files: 3, detections: 1, allowListed: 1 }, queued: 0 });
      const a2 = await alerts();
      expect(a2.total).toBe(2); // no new alert
      expect(a2.alerts.find((a) => a.id === toolAlert.id)).toMatchObject({ state: "false_positive", count: 1 });
      expect(a2.alerts.find((a) => a.id === eicarAlert.id)).toMatchObject({ state: "new", count: 2 });
      expect((await alerts("&state=new")).alerts.map((a) => a.id)).toEqual([eicarAlert.id]);
      const dets = (await server.call("GET", `/api/admin/detections?endpoint=${endpointId}&limit=100`, admin)).json
        .detections as any[];
      expect(dets.filter((d) => d.sha256 === sha(TOOL))).toHaveLength(1); // only the first scan's
      expect(dets.filter((d) => d.sha256 === sha(EICAR))).toHaveLength(2);
      expect(problems).toEqual([]);
    }, 300_000);
  },
);
