/**
 * The alerts pages in a real browser (playwright-core driving Debian's chromium against a real
 * server on 127.0.0.1): an endpoint reports a rescan of the same files through /api/v1, the
 * analyst opens Alerts from the navigation, sees one alert per file with its count, marks one a
 * false positive in bulk from the list, comments on another on its own page; the hash is then
 * clean in the fleet's reputation and the same file reported again does not open a new alert.
 * Any script error or CSP violation fails the test. Screenshots: test-artifacts/console/alerts*.png.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { needs } from "@vigil/test-kit";
import { openConsoleBrowser, type ConsoleBrowser } from "./helpers/browser.js";
import { TEST_ADMIN, detection, startTestServer, type TestServer } from "@vigil/test-kit/server";

const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/console/", import.meta.url));

describe.skipIf(needs("alerts console in chromium", { chromium: true }))("alerts console in chromium", () => {
  let server: TestServer;
  let browser: ConsoleBrowser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startTestServer({ dialect: "sqlite", logLevel: "silent" });
    browser = await openConsoleBrowser();
    ({ page, problems } = browser);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("from found to handled: a false positive from the list, a comment on an alert", async () => {
    const ep = await server.enrollEndpoint({ hostname: "pc-17" });
    const fp = { sha256: randomBytes(32).toString("hex"), rule: "EICAR_Test_File", name: "Win.Test.EICAR_HDB-1" };
    const real = { sha256: randomBytes(32).toString("hex"), rule: "Trojan_Generic", severity: "critical" };
    for (const time of [Date.now() - 60_000, Date.now()]) {
      const r = await server.call("POST", "/api/v1/detections", {
        key: ep.key,
        body: { detections: [detection({ ...fp, time }), detection({ ...real, time })] },
      });
      expect(r.json.accepted).toBe(2);
    }

    await page.goto(`${server.url}/console/login`);
    await page.getByLabel("Username").fill(TEST_ADMIN.username);
    await page.getByLabel("Password").fill(TEST_ADMIN.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/console\/$/);
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Alerts", exact: true }).click();
    await page.waitForURL(/\/console\/alerts$/);
    const rows = page.locator("#alerts-table tbody tr");
    expect(await rows.count()).toBe(2); // 4 detections, 2 findings
    const fpRow = rows.filter({ hasText: "Win.Test.EICAR_HDB-1" });
    expect(await fpRow.textContent()).toContain("(rule EICAR_Test_File)");
    expect(await fpRow.locator("td.num").textContent()).toBe("2");
    await page.screenshot({ path: join(ARTIFACTS, "alerts-list.png") });

    // bulk form: select the EICAR alert, mark it a false positive with a comment
    await fpRow.getByRole("checkbox").check();
    await page.getByLabel("Move to").selectOption("false_positive");
    await page.getByLabel("Comment (optional)").fill("our own test file");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/\/console\/alerts\?done=1$/);
    expect(await page.getByRole("status").first().textContent()).toContain("1 alert changed.");
    expect(await rows.filter({ hasText: "Win.Test.EICAR_HDB-1" }).textContent()).toContain("false positive");

    // one alert's page: comment and acknowledge
    await rows.filter({ hasText: "Trojan_Generic" }).getByRole("link", { name: "Trojan_Generic" }).click();
    await page.waitForURL(/\/console\/alerts\/[0-9a-f-]{36}$/);
    await page.getByLabel("Add a comment").fill("isolating pc-17");
    await page.getByRole("button", { name: "Comment" }).click();
    await page.waitForURL(/done=comment$/);
    await page.locator("#one-state").selectOption("acknowledged");
    await page.getByRole("button", { name: "Change state" }).click();
    await page.waitForURL(/done=state$/);
    const text = (await page.locator("main").textContent()) ?? "";
    expect(text).toContain("isolating pc-17");
    expect(text).toMatch(/acknowledged by admin/);
    await page.screenshot({ path: join(ARTIFACTS, "alerts-one.png"), fullPage: true });

    // the fleet now calls the file clean; the same file reported again opens no new alert
    const admin = await server.loginAdmin();
    expect((await server.call("GET", `/api/admin/reputation/${fp.sha256}`, admin)).json.verdict).toBe("clean");
    await server.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [detection({ ...fp })] } });
    expect((await server.call("GET", "/api/admin/alerts?state=new", admin)).json.total).toBe(0);
    expect(problems).toEqual([]);
  }, 120_000);
});
