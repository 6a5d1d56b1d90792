/**
 * `vigil server` as an operator runs it (the built bin, a real process): no flags but a data
 * directory and a free port, the first admin's password file, an enrolment token and a user made
 * with the operator sub-commands against the same store while the server runs, and a graceful
 * stop on SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OS } from "@vigil/test-kit/server";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../bin/vigil.js");
const BUILT = existsSync(join(dirname(BIN), "../dist/commands/server.js"));
if (!BUILT) console.warn("api-cli tests: skipped, the CLI is not built (run `npx tsc -b` first)");

// asynchronous, so the event loop runs while the command does: fetch's kept-alive sockets see the
// server close them when idle (with spawnSync a slow command left a closed socket to be reused)
function vigil(cwd: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe.skipIf(!BUILT)("vigil server (CLI)", () => {
  let cwd: string;
  let proc: ChildProcess;
  let url: string;
  let stdout = "";
  let stderr = "";
  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), "vigil-cli-server-"));
    proc = spawn(process.execPath, [BIN, "server", "--port", "0", "--log-level", "info"], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout!.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 30_000);
      proc.stderr!.on("data", (b: Buffer) => {
        stderr += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      proc.once("exit", (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
    });
  });
  afterAll(() => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
    rmSync(cwd, { recursive: true, force: true });
  });

  it("creates ./vigil-data with the store and the first admin's password (0600, never in the log)", async () => {
    const health = await (await fetch(`${url}/healthz`)).json();
    expect(health).toMatchObject({ status: "ok", dialect: "sqlite" });
    const file = join(cwd, "vigil-data", "initial-admin-password");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(cwd, "vigil-data")).mode & 0o777).toBe(0o700);
    expect(statSync(join(cwd, "vigil-data", "vigil.db")).mode & 0o777).toBe(0o600);
    const password = /password: (\S+)/.exec(readFileSync(file, "utf8"))![1]!;
    expect(stdout).toContain(`initial admin password written to ${file}`);
    expect(stdout).not.toContain(password);
    const login = await fetch(`${url}/api/admin/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "admin", password }),
    });
    expect(login.status).toBe(200);
  });

  it("token create and user add act on the running server's store", async () => {
    const t = await vigil(cwd, "server", "token", "create", "--label", "cli-made", "--uses", "2");
    expect(t.status, t.stderr).toBe(0);
    const token = t.stdout.trim();
    expect(token).toMatch(/^vet_/);
    const en = await fetch(`${url}/api/v1/enroll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, os: OS, agentVersion: "1" }),
    });
    expect(en.status).toBe(201);
    const u = await vigil(cwd, "server", "user", "add", "carol", "--role", "viewer");
    expect(u.status, u.stderr).toBe(0);
    const login = await fetch(`${url}/api/admin/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "carol", password: u.stdout.trim() }),
    });
    expect((await login.json()).user.role).toBe("viewer");
    expect((await vigil(cwd, "server", "user", "add", "carol", "--role", "viewer")).status).toBe(2);
    expect((await vigil(cwd, "server", "user", "add", "dave", "--role", "root")).status).toBe(2);
    expect((await vigil(cwd, "server", "token", "create")).status).toBe(2); // --label is required
  });

  it("refuses bad options with exit code 2", async () => {
    expect((await vigil(cwd, "server", "--port", "99999")).status).toBe(2);
    expect((await vigil(cwd, "server", "--log-level", "loud")).status).toBe(2);
    expect((await vigil(cwd, "server", "--updates-dir", "a", "--updates-upstream", "http://127.0.0.1:1/")).status).toBe(
      2,
    );
  });

  it("stops gracefully on SIGTERM", async () => {
    const code = await new Promise<number | null>((resolve) => {
      proc.once("exit", (c) => resolve(c));
      proc.kill("SIGTERM");
    });
    expect(code).toBe(0);
    expect(stderr).toContain("SIGTERM: stopping");
  });
});
