/**
 * The groups pages in a real browser (playwright-core driving Debian's chromium against a real
 * server on 127.0.0.1): an admin opens Groups from the navigation, creates a group by hostname
 * glob with a scan policy and one data field through the form, sees the enrolled endpoint among
 * its members by rule, follows it to the endpoint page and reads its effective policy with where
 * each field came from. Any script error or CSP violation fails the test. Screenshots:
 * test-artifacts/console/groups*.png.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { needs } from "@vigil/test-kit";
import { openConsoleBrowser, type ConsoleBrowser } from "./helpers/browser.js";
import { TEST_ADMIN, startTestServer, type TestServer } from "@vigil/test-kit/server";

const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/console/", import.meta.url));

describe.skipIf(needs("groups console in chromium", { chromium: true }))("groups console in chromium", () => {
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

  it("creates a group in the form and shows an endpoint's effective policy with its sources", async () => {
    const ep = await server.enrollEndpoint({ hostname: "kiosk-07.shop" });
    await server.enrollEndpoint({ hostname: "office-01" });

    await page.goto(`${server.url}/console/login`);
    await page.getByLabel("Username").fill(TEST_ADMIN.username);
    await page.getByLabel("Password").fill(TEST_ADMIN.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/console\/$/);
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Groups", exact: true }).click();
    await page.waitForURL(/\/console\/groups$/);
    expect(await page.locator("main").textContent()).toContain("No groups yet");

    const form = page.locator("form", { has: page.getByRole("button", { name: "Create the group" }) });
    await form.getByLabel("Name", { exact: true }).fill("Shop kiosks");
    await form.getByLabel("Priority").fill("20");
    await form.getByLabel("Hostname", { exact: true }).fill("kiosk-*");
    await form.getByLabel("Send file paths of detections").selectOption("yes");
    await form.getByLabel("Scan paths").fill("/srv/kiosk\n/home/kiosk");
    await form.getByLabel("Scan every N minutes").fill("120");
    await form.getByLabel("Action on detection").selectOption("quarantine");
    await form.getByRole("button", { name: "Create the group" }).click();
    await page.waitForURL(/\/console\/groups\/[0-9a-f-]{36}\?done=created$/);
    const members = page.locator("#members-table tbody tr");
    expect(await members.count()).toBe(1);
    expect(await members.first().textContent()).toContain("kiosk-07.shop");
    expect(await members.first().textContent()).toContain("by rule");
    await page.screenshot({ path: join(ARTIFACTS, "groups-one.png"), fullPage: true });

    await members.first().getByRole("link").click();
    await page.waitForURL(new RegExp(`/console/endpoints/${ep.endpointId}$`));
    const policy = page.locator("#policy-table tbody tr");
    const row = async (label: string) => (await policy.filter({ hasText: label }).first().textContent()) ?? "";
    expect(await row("Scan paths")).toContain("/srv/kiosk, /home/kiosk");
    expect(await row("Scan paths")).toContain("group Shop kiosks");
    expect(await row("Action on detection")).toContain("quarantine");
    expect(await row("Send file paths")).toMatch(/yes\s*group Shop kiosks/);
    expect(await row("Send the hostname")).toMatch(/yes\s*default/);
    expect(await row("Watched paths")).toContain("the endpoint's own configuration");
    await page.locator("#policy").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, "groups-endpoint-policy.png") });

    await page.goto(`${server.url}/console/groups`);
    expect(await page.locator("#groups-table tbody tr").count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, "groups-list.png") });
    expect(problems).toEqual([]);
  }, 120_000);
});
