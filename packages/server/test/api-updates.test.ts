/**
 * /updates/*: a read-only mirror of an update log directory (content types, cache headers, no
 * path traversal, no symlink escape) and a proxy to a publisher URL, through real HTTP.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects, startTestServer, type TestServer } from "@vigil/test-kit/server";

const CHECKPOINT = "vigil.example/log\n3\nq6yuY2ZfRjq2ZW9LwE0ZPeJn1iwgwkmfRscLHVDlmFw=\n\n— vigil.example/log abcd\n";
const TILE = Buffer.alloc(96, 7);
const BUNDLE = Buffer.from("a tar archive, in spirit");

for (const dialect of (await dialects()).slice(0, 1)) {
  describe(`update distribution (${dialect})`, () => {
    let dir: string;
    let s: TestServer;
    let proxy: TestServer;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "vigil-updates-"));
      mkdirSync(join(dir, "log", "tile", "0"), { recursive: true });
      mkdirSync(join(dir, "log", "bundles"), { recursive: true });
      writeFileSync(join(dir, "log", "checkpoint"), CHECKPOINT);
      writeFileSync(join(dir, "log", "tile", "0", "000.p"), TILE);
      writeFileSync(join(dir, "log", "bundles", "rules-3.tar"), BUNDLE);
      writeFileSync(join(dir, "secret.txt"), "outside the log");
      symlinkSync(join(dir, "secret.txt"), join(dir, "log", "bundles", "escape.tar"));
      s = await startTestServer({ dialect, updatesDir: join(dir, "log") });
      proxy = await startTestServer({ dialect, updatesUpstream: `${s.url}/updates/` });
    });
    afterAll(async () => {
      await proxy?.close();
      await s?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("serves the checkpoint uncached, tiles and bundles immutable, with content types", async () => {
      const cp = await fetch(`${s.url}/updates/checkpoint`);
      expect(cp.status).toBe(200);
      expect(await cp.text()).toBe(CHECKPOINT);
      expect(cp.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(cp.headers.get("cache-control")).toBe("no-cache");
      const tile = await fetch(`${s.url}/updates/tile/0/000.p`);
      expect(Buffer.from(await tile.arrayBuffer()).equals(TILE)).toBe(true);
      expect(tile.headers.get("cache-control")).toContain("immutable");
      expect(tile.headers.get("content-type")).toBe("application/octet-stream");
      const b = await fetch(`${s.url}/updates/bundles/rules-3.tar`);
      expect(b.headers.get("content-type")).toBe("application/x-tar");
      expect(b.headers.get("cache-control")).toContain("immutable");
      const head = await fetch(`${s.url}/updates/bundles/rules-3.tar`, { method: "HEAD" });
      expect(head.headers.get("content-length")).toBe(String(BUNDLE.length));
    });

    it("refuses traversal, hidden files, symlinks out of the directory and writes", async () => {
      for (const p of [
        "%2e%2e/secret.txt",
        "..%2fsecret.txt",
        "bundles/%2e%2e/%2e%2e/secret.txt",
        ".hidden",
        "bundles/escape.tar",
        "nope",
        "tile//0",
        "%00",
      ]) {
        const r = await fetch(`${s.url}/updates/${p}`);
        expect(r.status, p).toBe(404);
        expect(await r.text()).not.toContain("outside the log");
      }
      const put = await fetch(`${s.url}/updates/checkpoint`, { method: "PUT", body: "x" });
      expect(put.status).toBe(404);
    });

    it("proxies GETs to an upstream publisher, with the same headers", async () => {
      const cp = await fetch(`${proxy.url}/updates/checkpoint`);
      expect(await cp.text()).toBe(CHECKPOINT);
      expect(cp.headers.get("cache-control")).toBe("no-cache");
      const tile = await fetch(`${proxy.url}/updates/tile/0/000.p`);
      expect(Buffer.from(await tile.arrayBuffer()).equals(TILE)).toBe(true);
      expect((await fetch(`${proxy.url}/updates/missing`)).status).toBe(404);
    });

    it("answers 502 when the upstream is down, and 404 with no updates configured", async () => {
      const dead: Server = createServer();
      await new Promise<void>((r) => dead.listen(0, "127.0.0.1", () => r()));
      const port = (dead.address() as { port: number }).port;
      await new Promise<void>((r) => dead.close(() => r()));
      const down = await startTestServer({ dialect, updatesUpstream: `http://127.0.0.1:${port}/` });
      try {
        const r = await fetch(`${down.url}/updates/checkpoint`);
        expect(r.status).toBe(502);
        expect((await r.json()).error.code).toBe("SERVER_UPSTREAM");
      } finally {
        await down.close();
      }
      const none = await startTestServer({ dialect });
      try {
        expect((await fetch(`${none.url}/updates/checkpoint`)).status).toBe(404);
      } finally {
        await none.close();
      }
    });
  });
}
