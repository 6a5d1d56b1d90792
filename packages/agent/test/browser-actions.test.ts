/**
 * Remote actions from the console in a real browser (playwright-core driving Debian's chromium)
 * against a real server on 127.0.0.1 and a real enrolled `Agent`: the admin opens the endpoint's
 * page, quarantines a file with the Quarantine button, the agent's next cycle moves it into its
 * vault and the history shows it done; the Restore button beside the vault entry puts it back
 * byte for byte; "Collect diagnostics", which this endpoint's operator does not allow, shows as
 * failed with the agent's reason; "Scan now" reports what it scanned. Any script error, CSP
 * violation or failed request fails the test. Screenshots of the endpoint's action history:
 * test-artifacts/console/actions-history.png (the section) and actions-endpoint.png (the page).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, AgentFiles, enroll } from "@vigil/agent";
import { CHROMIUM, needs } from "@vigil/test-kit";
import { TEST_ADMIN, startTestServer, type TestServer } from "@vigil/test-kit/server";

const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/console/", import.meta.url));

describe.skipIf(needs("remote actions console in chromium", { chromium: true }))(
  "remote actions console in chromium",
  () => {
    let server: TestServer;
    let context: BrowserContext;
    let page: Page;
    const dirs: string[] = [];
    const problems: string[] = [];

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      server = await startTestServer({ dialect: "sqlite", logLevel: "silent" });
      const profile = mkdtempSync(join(tmpdir(), "vigil-chromium-"));
      dirs.push(profile);
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        viewport: { width: 1366, height: 900 },
        timeout: 60_000,
      });
      page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultTimeout(15_000);
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console error: ${m.text()}`);
      });
      page.on("response", (r) => {
        if (r.status() >= 400)
          problems.push(`HTTP ${r.status()} for ${r.request().method()} ${new URL(r.url()).pathname}`);
      });
    }, 120_000);

    afterAll(async () => {
      await context?.close().catch(() => {});
      await server?.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it("quarantine, restore, a refused diagnostics and a scan, queued with the buttons", async () => {
      const state = mkdtempSync(join(tmpdir(), "vigil-act-agent-"));
      const data = mkdtempSync(join(tmpdir(), "vigil-act-data-"));
      dirs.push(state, data);
      const cfg = await enroll({
        dir: state,
        server: server.url,
        token: await server.createToken(),
        hostname: "ws-42",
      });
      // this endpoint's operator allows everything but the diagnostic bundle
      new AgentFiles(state).saveConfig({
        ...cfg,
        scan: { ...cfg.scan, paths: [data] },
        actions: { ...cfg.actions, allow: ["scan", "quarantine", "restore", "update"] },
      });
      const agent = new Agent({ dir: state });
      await agent.cycle();
      const file = join(data, "invoice.pdf.exe");
      const bytes = randomBytes(50_000);
      writeFileSync(file, bytes);

      await page.goto(`${server.url}/console/login`);
      await page.getByLabel("Username").fill(TEST_ADMIN.username);
      await page.getByLabel("Password").fill(TEST_ADMIN.password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.waitForURL(/\/console\/$/);
      await page.goto(`${server.url}/console/endpoints/${cfg.endpointId}`);
      const history = page.locator("#action-history tbody tr");
      expect(await page.locator("#actions").textContent()).toContain("No remote actions for this endpoint yet.");

      // quarantine with the button; the agent's next cycle carries it out
      await page.getByLabel("File to quarantine").fill(file);
      await page.getByRole("button", { name: "Quarantine", exact: true }).click();
      await page.waitForURL(/done=action#actions$/);
      expect(await page.getByRole("status").first().textContent()).toContain("The action was queued");
      expect(await history.first().textContent()).toContain("waiting for the next heartbeat");
      expect((await agent.cycle()).actions?.[0]?.state).toBe("done");
      expect(existsSync(file)).toBe(false);
      await page.reload();
      const qRow = history.filter({ hasText: "Quarantine" });
      expect(await qRow.locator(".badge").textContent()).toBe("done");
      expect(await qRow.textContent()).toMatch(/quarantined .*invoice\.pdf\.exe as \d{8}T\d{6}Z-[0-9a-f]{12}/);

      // the restore button beside the vault entry
      await qRow.getByRole("button", { name: /^Restore \d{8}T/ }).click();
      await page.waitForURL(/done=action#actions$/);
      await agent.cycle();
      expect(readFileSync(file).equals(bytes)).toBe(true);
      await page.reload();
      // restored: no second restore button for that entry
      expect(await qRow.getByRole("button", { name: /^Restore / }).count()).toBe(0);

      // refused by the endpoint's configuration, and a scan of the configured paths
      await page.getByRole("button", { name: "Collect diagnostics" }).click();
      await page.waitForURL(/done=action#actions$/);
      await page.getByRole("button", { name: "Scan now" }).click();
      await page.waitForURL(/done=action#actions$/);
      await agent.cycle();
      await page.goto(`${server.url}/console/endpoints/${cfg.endpointId}#actions`);
      expect(await history.count()).toBe(4);
      const diag = history.filter({ hasText: "Diagnostics" });
      expect(await diag.locator(".badge").textContent()).toBe("failed");
      expect(await diag.textContent()).toContain(
        "refused: this endpoint's configuration does not allow remote diagnostics actions",
      );
      expect(await history.filter({ hasText: "the configured paths" }).textContent()).toContain(
        "scanned 1 file: 0 detections",
      );
      expect(await history.filter({ hasText: "restored vault entry" }).locator(".badge").textContent()).toBe("done");
      await page.locator("#actions").screenshot({ path: join(ARTIFACTS, "actions-history.png") });
      await page.screenshot({ path: join(ARTIFACTS, "actions-endpoint.png"), fullPage: true });
      expect(problems).toEqual([]);
    }, 120_000);
  },
);
