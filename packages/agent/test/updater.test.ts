/**
 * The agent's update reads go through `ledgeredSource`: a @vigil/updates `Source` whose every
 * GET is sent by the agent's AgentClient, so it is in the outbound ledger. Against a real HTTP
 * server on 127.0.0.1: a file comes back byte for byte and its request and answer are ledgered,
 * without the endpoint key; a 404 is `FETCH_FAILED`, an answer over the size update() allows is
 * `TOO_LARGE`, an unreachable log is `FETCH_FAILED`, a path that is not plain relative is
 * `BAD_INPUT` and is never sent.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";
import { UpdateError } from "@vigil/updates";

const FILES: Record<string, Buffer> = {
  checkpoint: Buffer.from("example.org/log\n3\nAAAA\n\n— sig\n"),
  "tile/0/000": Buffer.alloc(96, 7),
};

let server: Server;
let base: string;
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    const path = (req.url ?? "/").replace(/^\/log\//, "");
    const body = FILES[path];
    if (!body) {
      res.writeHead(404).end("not here");
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/log`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function client(): { ledger: agent.Ledger; client: agent.AgentClient } {
  const dir = mkdtempSync(join(tmpdir(), "vigil-agent-upd-"));
  dirs.push(dir);
  const ledger = new agent.Ledger(dir);
  return { ledger, client: new agent.AgentClient({ server: "http://127.0.0.1:9", key: "endpoint-secret", ledger }) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UpdateError);
    return (err as UpdateError).code;
  }
  return "no error";
}

describe("ledgeredSource", () => {
  test("a read comes back unchanged, is ledgered, and carries no endpoint key", async () => {
    const { ledger, client: c } = client();
    const src = agent.ledgeredSource(base, c);
    expect(src.location).toBe(base + "/");
    seen.length = 0;
    const got = await src.get("tile/0/000", 1024);
    expect(Buffer.from(got).equals(FILES["tile/0/000"]!)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe("/log/tile/0/000");
    expect(seen[0]!.headers.authorization).toBeUndefined();
    const recs = ledger.records();
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ method: "GET", url: `${base}/tile/0/000`, status: 200 });
    expect(ledger.verify().ok).toBe(true);
  });

  test("failures have the codes update() expects from every Source", async () => {
    const { ledger, client: c } = client();
    const src = agent.ledgeredSource(base, c);
    expect(await codeOf(src.get("missing", 1024))).toBe("FETCH_FAILED");
    expect(await codeOf(src.get("tile/0/000", 50))).toBe("TOO_LARGE");
    expect(ledger.records().map((r) => r.status)).toEqual([404, 200]);
    seen.length = 0;
    for (const bad of ["../etc/passwd", "/checkpoint", "tile//000", "a?b", ""])
      expect(await codeOf(src.get(bad, 1024))).toBe("BAD_INPUT");
    expect(seen).toHaveLength(0);
    expect(ledger.records()).toHaveLength(2);
    const offline = agent.ledgeredSource("http://127.0.0.1:9/log", c);
    expect(await codeOf(offline.get("checkpoint", 1024))).toBe("FETCH_FAILED");
    expect(ledger.records()).toHaveLength(3);
  });
});
