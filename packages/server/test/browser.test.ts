/**
 * The console in a real browser: playwright-core driving Debian's chromium (/usr/bin/chromium,
 * never a downloaded browser) against a real server on 127.0.0.1. Logs in through the form,
 * creates an enrolment token in the UI, enrols an endpoint and reports a detection through the
 * real /api/v1 HTTP API, watches the detection arrive on the dashboard by htmx polling (no
 * reload), finds it on the detections page, records a verdict through an htmx form, revokes the
 * endpoint through the UI and checks its key is refused (401). Any script error or CSP
 * violation in the browser fails the test. Screenshots go to test-artifacts/console/*.png.
 *
 * Without /usr/bin/chromium the suite prints why and skips, unless VIGIL_REQUIRE_BROWSER=1 (or
 * VIGIL_REQUIRE_ALL=1).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64, generateKey, parseCheckpoint, splitNote } from "@vigil/tlog";
import { publish } from "@vigil/updates";
import { CHROMIUM, needs } from "@vigil/test-kit";
import { TEST_ADMIN, heartbeat, startTestServer, type TestServer } from "@vigil/test-kit/server";

const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/console/", import.meta.url));

describe.skipIf(needs("console in chromium", { chromium: true }))("console in chromium", () => {
  let server: TestServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let logDir: string;
  let checkpoint: { origin: string; size: number; rootHash: string };
  const problems: string[] = [];

  const nav = (name: string) =>
    page.getByRole("navigation", { name: "Console" }).getByRole("link", { name, exact: true });
  // the first screen as a 1366x768 laptop shows it, and (for long pages) the whole page
  const shot = async (name: string, full = false) => {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
    if (full) await page.screenshot({ path: join(ARTIFACTS, `${name}-full.png`), fullPage: true });
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // an update log for the server to mirror, as `vigil publish` writes it
    logDir = mkdtempSync(join(tmpdir(), "vigil-browser-log-"));
    const rulesDir = mkdtempSync(join(tmpdir(), "vigil-browser-rules-"));
    writeFileSync(
      join(rulesDir, "a.yar"),
      'rule Browser_Test_Rule { strings: $a = "browser-test-marker" condition: $a }\n',
    );
    await publish({
      rulesDir,
      logDir,
      publisherKey: generateKey("publisher.test").signerKey,
      logKey: generateKey("updates.test/log").signerKey,
      compileCheck: false,
    });
    rmSync(rulesDir, { recursive: true, force: true });
    const cp = parseCheckpoint(splitNote(readFileSync(join(logDir, "checkpoint"), "utf8")).text);
    checkpoint = { origin: cp.origin, size: Number(cp.size), rootHash: encodeBase64(cp.rootHash) };
    server = await startTestServer({
      dialect: "sqlite",
      logLevel: "silent",
      publicUrl: "https://vigil.example.org",
      updatesDir: logDir,
    });
    profile = mkdtempSync(join(tmpdir(), "vigil-chromium-"));
    // launchPersistentContext is how playwright takes a --user-data-dir (a fresh one per run)
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1366, height: 768 },
      timeout: 60_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    // failed loads are judged by their responses below (a wrong password is an expected 401)
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        problems.push(`console error: ${m.text()}`);
    });
    page.on("response", (r) => {
      const u = new URL(r.url());
      if (r.status() >= 400 && !(u.pathname === "/console/login" && r.status() === 401))
        problems.push(`HTTP ${r.status()} for ${r.request().method()} ${u.pathname}`);
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  it("logs in, sees an agent's detection arrive, records a verdict and revokes the endpoint", async () => {
    // --- login: a wrong password first, then the right one; `next` is kept
    await page.goto(`${server.url}/console/detections`);
    expect(new URL(page.url()).pathname).toBe("/console/login");
    await page.getByLabel("Username").fill(TEST_ADMIN.username);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("Wrong username or password.");
    await shot("login-wrong-password");
    await page.getByLabel("Password").fill(TEST_ADMIN.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/console\/detections$/);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Detections");

    // --- an enrolment token through the UI, shown once
    await nav("Enrolment").click();
    await page.getByLabel("Label (who or what it is for)").fill("browser test");
    await page.getByRole("button", { name: "Create token" }).click();
    const token = await page.locator("#new-token").inputValue();
    expect(token).toMatch(/^vet_/);
    expect(await page.locator("#enroll-command").textContent()).toBe(
      `vigil agent enroll https://vigil.example.org ${token}`,
    );
    await shot("enrollment-token");

    // --- the agent's side through the real HTTP API
    const hostname = `browser-${randomBytes(3).toString("hex")}`;
    const enrol = await server.call("POST", "/api/v1/enroll", {
      body: { token, hostname, os: { platform: "linux", release: "6.1.0", arch: "x64" }, agentVersion: "0.1.0" },
    });
    expect(enrol.status).toBe(201);
    const key = enrol.json.key as string;
    const endpointId = enrol.json.endpointId as string;
    expect(
      (
        await server.call("POST", "/api/v1/heartbeat", {
          key,
          body: heartbeat({
            hostname,
            rulesVersion: "rules-1",
            checkpoint,
            ledger: { entries: 3, head: "ab".repeat(32) },
          }),
        })
      ).status,
    ).toBe(200);

    // --- the dashboard is open when the detection arrives: htmx polling brings it in
    await nav("Dashboard").click();
    await page.waitForURL(/\/console\/$/);
    const feed = page.locator("#activity");
    expect(await feed.getAttribute("aria-live")).toBe("polite");
    expect(await feed.textContent()).not.toContain("Browser_Test_Rule");
    const sha256 = randomBytes(32).toString("hex");
    const det = await server.call("POST", "/api/v1/detections", {
      key,
      body: {
        detections: [
          {
            id: "d1",
            time: Date.now(),
            rule: "Browser_Test_Rule",
            severity: "critical",
            bundleVersion: "rules-3",
            sha256,
            size: 1234,
            fileType: "elf",
            action: "quarantined",
          },
        ],
      },
    });
    expect(det.status).toBe(200);
    const before = page.url();
    await expect.poll(() => feed.textContent(), { timeout: 25_000, interval: 500 }).toContain("Browser_Test_Rule");
    expect(page.url()).toBe(before); // arrived without a reload
    expect(await feed.textContent()).toContain(hostname);
    // the fleet card counts the new endpoint as online (polled as well)
    await expect
      .poll(() => page.locator("#fleet .st-card-online .big").textContent(), { timeout: 25_000, interval: 500 })
      .toBe("1");
    // charts are drawn from their tables, which then fold away
    expect(await page.locator("[data-chart-for='det-per-day'] canvas").count()).toBe(1);
    expect(await page.locator("details.chart-data").first().getAttribute("open")).toBeNull();
    await shot("dashboard", true);

    // --- the detections page lists it
    await nav("Detections").click();
    const row = page.locator("#detections-table tbody tr").filter({ hasText: "Browser_Test_Rule" });
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toContain("quarantined");
    await shot("detections");

    // --- hash lookup from the row, then a verdict through the htmx form (no full reload)
    await row.getByRole("link", { name: new RegExp(`^${sha256.slice(0, 16)}`) }).click();
    await page.waitForURL(/\/console\/hashes\?q=/);
    await page.getByLabel("Verdict", { exact: true }).selectOption("malicious");
    await page.getByLabel("Name (optional)").fill("Browser.Test");
    await page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 1));
    await page.getByRole("button", { name: "Save verdict" }).click();
    await expect.poll(() => page.locator("main .notice").textContent()).toContain("The verdict was saved.");
    expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(1); // same document: htmx swapped <main>
    expect(await page.locator("main").textContent()).toContain("Browser.Test");
    await shot("hash-lookup", true);

    // --- the endpoint's page, then revoke with the confirmation step
    await page.goto(`${server.url}/console/endpoints?q=${hostname}`);
    await shot("endpoints");
    await page.getByRole("link", { name: hostname }).click();
    await page.waitForURL(new RegExp(`/console/endpoints/${endpointId}$`));
    expect(await page.locator("#checkpoint").textContent()).toContain(
      `Verified: matches the latest checkpoint (size ${checkpoint.size}).`,
    );
    expect(await page.locator("#ledger").textContent()).toContain("ab".repeat(32));
    await shot("endpoint-detail", true);
    await page.getByRole("link", { name: "Revoke this endpoint…" }).click();
    await page.waitForURL(/\/revoke$/);
    await shot("revoke-confirm");
    await page.getByRole("button", { name: "Revoke the endpoint" }).click();
    await page.waitForURL(/done=revoked$/);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toContain("Revoked");
    expect(await page.getByRole("status").textContent()).toContain("The endpoint was revoked");
    await shot("endpoint-revoked");

    // --- the key no longer works
    const refused = await server.call("POST", "/api/v1/heartbeat", { key, body: heartbeat({ hostname }) });
    expect(refused.status).toBe(401);

    // --- the audit log shows who did it
    await nav("Activity").click();
    expect(await page.locator("main table").textContent()).toContain("endpoint.revoke");

    // --- the remaining pages render in the browser too
    await page.goto(`${server.url}/console/updates`);
    expect(await page.locator("main").textContent()).toContain("rules-1");
    for (const [path, name] of [
      ["/console/policy", "policy"],
      ["/console/updates", "updates"],
      ["/console/users", "users"],
      ["/console/health", "health"],
    ] as const) {
      await page.goto(`${server.url}${path}`);
      expect(await page.locator("h1").count()).toBe(1);
      await shot(name, true);
    }
    expect(await page.locator("[data-chart-for='connected-per-hour'] canvas").count()).toBe(1);

    // keyboard: the skip link is the first stop and is visible when focused
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");

    expect(problems).toEqual([]);
  }, 180_000);

  it("lays out a busy fleet readably at 1366x768", async () => {
    // 40 endpoints with 30 days of office-hours presence and a few hundred detections, written
    // straight into the running server's store (the API would take 30 days to produce them)
    const db = server.ctx.store.db;
    const now = Date.now();
    const hour = 3_600_000;
    const rules = [
      "EICAR_Test_File",
      "Trojan_Generic_Downloader",
      "Ransom_Note_Text",
      "PUA_Miner",
      "Suspicious_PowerShell_Encoded",
    ];
    const severities = ["low", "medium", "high", "critical"] as const;
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 40; i++) {
      const id = randomUUID();
      const lastSeen =
        i < 28 ? now - Math.floor(rnd() * 500_000) : i < 33 ? now - 5 * hour : i < 37 ? now - 3 * 24 * hour : null;
      await db
        .insertInto("endpoints")
        .values({
          id,
          key_hash: randomBytes(32).toString("hex"),
          hostname: `ws-${String(i).padStart(3, "0")}.corp.example`,
          os: JSON.stringify({ platform: i % 3 ? "linux" : "win32", release: "6.1.0", arch: "x64" }),
          agent_version: "0.1.0",
          rules_version: i % 9 === 0 ? "rules-2" : "rules-3",
          checkpoint_origin: i % 5 ? checkpoint.origin : null,
          checkpoint_size: i % 5 ? checkpoint.size : null,
          checkpoint_root: i % 5 ? checkpoint.rootHash : null,
          checkpoint_at: i % 5 ? now - (i % 7) * 20 * hour : null,
          ledger_entries: 100 + i,
          ledger_head: randomBytes(32).toString("hex"),
          enrolled_at: now - 40 * 24 * hour,
          enrolled_with: "fleet",
          last_seen: lastSeen,
          revoked_at: null,
          revoked_by: null,
        })
        .execute();
      const presence: Array<{ endpoint_id: string; hour: number }> = [];
      for (let h = Math.floor(now / hour) - 30 * 24 + 1; h <= Math.floor(now / hour); h++) {
        const hod = h % 24,
          dow = Math.floor(h / 24 + 4) % 7;
        if ((dow < 5 && hod >= 7 && hod < 18 && rnd() < 0.9) || (i < 6 && rnd() < 0.8))
          presence.push({ endpoint_id: id, hour: h });
      }
      for (let k = 0; k < presence.length; k += 400)
        await db
          .insertInto("endpoint_presence")
          .values(presence.slice(k, k + 400))
          .onConflict((oc) => oc.doNothing())
          .execute();
      const n = Math.floor(rnd() * 12);
      const dets = Array.from({ length: n }, (_, k) => {
        const sha = randomBytes(32).toString("hex");
        const t = now - Math.floor(rnd() * 30 * 24 * hour);
        return {
          id: randomUUID(),
          endpoint_id: id,
          client_id: `c${k}`,
          time: t,
          received_at: t,
          rule: rules[Math.floor(rnd() * rules.length)]!,
          severity: severities[Math.floor(rnd() * 4)]!,
          bundle_version: "rules-3",
          sha256: sha,
          sha256_prefix: parseInt(sha.slice(0, 5), 16),
          size: 4096,
          file_type: "pe",
          action: "reported",
          path: null,
        };
      });
      if (dets.length) await db.insertInto("detections").values(dets).execute();
    }
    await page.goto(`${server.url}/console/`);
    expect(await page.locator("[data-chart-for='det-per-day'] canvas").count()).toBe(1);
    // nothing sticks out sideways at laptop width
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1366);
    await shot("busy-dashboard", true);
    await page.goto(`${server.url}/console/endpoints`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1366);
    await shot("busy-endpoints", true);
    await page.goto(`${server.url}/console/detections`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1366);
    await shot("busy-detections");
    expect(problems).toEqual([]);
  }, 120_000);
});
