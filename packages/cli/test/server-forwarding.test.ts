/**
 * `vigil server --alert-syslog udp://... --alert-ecs FILE` as an operator runs it (the built bin):
 * a detection an enrolled endpoint reports reaches a UDP syslog receiver on 127.0.0.1 as an
 * RFC 5424 message with the configured SD-ID and lands as an ECS line in the file; bad
 * forwarding options exit 2 with a message naming the option.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detection, OS } from "@vigil/test-kit/server";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../bin/vigil.js");
const BUILT = existsSync(join(dirname(BIN), "../dist/commands/server.js"));
if (!BUILT) console.warn("server forwarding CLI tests: skipped, the CLI is not built (run `npx tsc -b` first)");

function vigil(cwd: string, ...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", timeout: 60_000 });
}

describe.skipIf(!BUILT)("vigil server alert forwarding (CLI)", () => {
  let cwd: string;
  let proc: ChildProcess;
  let url: string;
  let udp: Socket;
  const got: Buffer[] = [];
  let stderr = "";
  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), "vigil-cli-forward-"));
    udp = createSocket("udp4");
    udp.on("message", (m) => got.push(m));
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
    const args = [
      BIN,
      "server",
      "--port",
      "0",
      "--alert-syslog",
      `udp://127.0.0.1:${udp.address().port}`,
      "--alert-syslog-enterprise-id",
      "99999",
      "--alert-ecs",
      "alerts.ndjson",
    ];
    proc = spawn(process.execPath, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
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
    if (proc?.exitCode === null) proc.kill("SIGKILL");
    udp?.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it("a reported detection reaches the syslog receiver and the ECS file", async () => {
    const t = vigil(cwd, "server", "token", "create", "--label", "fwd");
    expect(t.status, t.stderr).toBe(0);
    const en = await fetch(`${url}/api/v1/enroll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: t.stdout.trim(), os: OS, agentVersion: "1", hostname: "fwd-host" }),
    });
    const { key, endpointId } = (await en.json()) as { key: string; endpointId: string };
    const sha256 = randomBytes(32).toString("hex");
    const r = await fetch(`${url}/api/v1/detections`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ detections: [detection({ sha256 })] }),
    });
    expect(r.status).toBe(200);
    const file = join(cwd, "alerts.ndjson");
    const end = Date.now() + 15_000;
    while ((got.length === 0 || !existsSync(file)) && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
    const msg = got[0]!.toString("utf8");
    expect(msg).toMatch(/^<35>1 \S+ \S+ vigil \d+ alert \[vigil@99999 /);
    expect(msg).toContain(`sha256="${sha256}"`);
    const doc = JSON.parse(readFileSync(file, "utf8").trim());
    expect(doc.event.kind).toBe("alert");
    expect(doc.host.id).toBe(endpointId);
    expect(doc.file.hash.sha256).toBe(sha256);
  });

  it("refuses bad forwarding options with exit code 2", () => {
    const bad = vigil(cwd, "server", "--alert-syslog", "ftp://127.0.0.1:1");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--alert-syslog");
    const noCa = vigil(cwd, "server", "--alert-syslog", "tls://127.0.0.1", "--alert-syslog-ca", "/nonexistent.pem");
    expect(noCa.status).toBe(2);
    expect(noCa.stderr).toContain("--alert-syslog-ca");
    expect(vigil(cwd, "server", "--alert-syslog", "udp://127.0.0.1", "--alert-syslog-facility", "30").status).toBe(2);
    expect(vigil(cwd, "server", "--alert-ecs", "x.ndjson", "--alert-ecs-keep", "0").status).toBe(2);
  });
});
