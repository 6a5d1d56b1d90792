/**
 * The outbox against a real HTTP server on 127.0.0.1 (a small stand-in for the endpoint API that
 * records each batch and answers as told), with the real client, ledger and spool: the policy in
 * force when sending applies (a path queued under a wider policy is dropped; summaries are
 * dropped when the policy no longer wants them); a 413 halves the batch until it fits; a 400 drops
 * the batch and the rest still goes; an unreachable server stops the flush with everything still
 * queued; a 401 (revoked key) throws the fatal AGENT_REVOKED.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";
import * as protocol from "@vigil/protocol";

interface Batch {
  path: string;
  detections?: protocol.Detection[];
  scans?: protocol.ScanSummary[];
}

let server: Server;
let url: string;
const batches: Batch[] = [];
/** How the server answers a batch: a status, or undefined for 200 with accepted = batch size. */
let answer: (b: Batch) => number | undefined = () => undefined;
const dirs: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const b: Batch = { path: req.url ?? "", ...JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") };
      const status = answer(b);
      if (status) {
        res
          .writeHead(status, { "content-type": "application/json" })
          .end(JSON.stringify({ error: { code: "x", message: `status ${status}` } }));
        return;
      }
      batches.push(b);
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ accepted: (b.detections ?? b.scans ?? []).length, duplicates: 0 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function outbox(policy: protocol.DataPolicy, serverUrl = url) {
  const dir = mkdtempSync(join(tmpdir(), "vigil-outbox-"));
  dirs.push(dir);
  const ledger = new agent.Ledger(dir);
  const spool = new agent.Spool(join(dir, "spool"));
  const client = new agent.AgentClient({ server: serverUrl, key: "k", ledger });
  const state = agent.AgentState.parse({});
  const box = new agent.Outbox({ dir, client, spool, policy: () => policy, state: () => state, log: () => {} });
  return { box, spool, ledger };
}

function detection(i: number): protocol.Detection {
  return {
    id: randomUUID(),
    time: 1000 + i,
    rule: `r${i}`,
    severity: "high",
    bundleVersion: null,
    sha256: "a".repeat(64),
    size: 1,
    fileType: null,
    action: "reported",
    path: `/home/u/f${i}`,
  };
}

const summary = (): protocol.ScanSummary => ({
  id: randomUUID(),
  startedAt: 1,
  finishedAt: 2,
  kind: "manual",
  files: 1,
  bytes: 1,
  detections: 0,
  errors: 0,
  bundleVersion: null,
});
const withPath = (on: boolean): protocol.DataPolicy => ({
  ...protocol.DEFAULT_POLICY,
  send: { ...protocol.DEFAULT_POLICY.send, path: on },
});

describe("outbox", () => {
  test("the policy at sending time applies: paths dropped when it forbids them, kept when it allows them", async () => {
    answer = () => undefined;
    for (const allow of [false, true]) {
      batches.length = 0;
      const { box, spool } = outbox(withPath(allow));
      for (let i = 0; i < 3; i++) spool.add("detection", detection(i));
      spool.add("scan", summary());
      const r = await box.flush();
      expect(r).toMatchObject({ detections: 3, scans: 1, rejected: 0, remaining: 0 });
      expect(r.stopped).toBeUndefined();
      const sent = batches.flatMap((b) => b.detections ?? []);
      expect(sent.map((d) => d.rule)).toEqual(["r0", "r1", "r2"]);
      expect(sent.every((d) => (allow ? d.path?.startsWith("/home/u/") : d.path === undefined))).toBe(true);
    }
    batches.length = 0;
    const { box, spool } = outbox({
      ...protocol.DEFAULT_POLICY,
      send: { ...protocol.DEFAULT_POLICY.send, scanSummaries: false },
    });
    spool.add("scan", summary());
    expect(await box.flush()).toMatchObject({ scans: 0, remaining: 0 });
    expect(batches).toHaveLength(0);
  });

  test("a 413 halves the batch until it fits; a 400 drops that batch and the rest still goes", async () => {
    batches.length = 0;
    answer = (b) => ((b.detections?.length ?? 0) > 2 ? 413 : undefined);
    const { box, spool } = outbox(withPath(false));
    for (let i = 0; i < 5; i++) spool.add("detection", detection(i));
    expect(await box.flush()).toMatchObject({ detections: 5, rejected: 0, remaining: 0 });
    expect(Math.max(...batches.map((b) => b.detections!.length))).toBeLessThanOrEqual(2);

    batches.length = 0;
    answer = (b) => (b.detections?.some((d) => d.rule === "r0") ? 400 : undefined);
    const second = outbox(withPath(false));
    second.spool.add("detection", detection(0));
    second.spool.add("scan", summary());
    expect(await second.box.flush()).toMatchObject({ detections: 0, scans: 1, rejected: 1, remaining: 0 });
  });

  test("an unreachable server stops the flush with everything queued; a 401 is the fatal AGENT_REVOKED", async () => {
    answer = () => undefined;
    const off = outbox(withPath(false), "http://127.0.0.1:9");
    off.spool.add("detection", detection(0));
    off.spool.add("scan", summary());
    const r = await off.box.flush();
    expect(r.stopped).toMatch(/cannot reach/);
    expect(r.remaining).toBe(2);
    expect(off.ledger.records()).toHaveLength(1);

    answer = () => 401;
    const revoked = outbox(withPath(false));
    revoked.spool.add("detection", detection(0));
    const err = await revoked.box.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(agent.AgentError);
    expect((err as agent.AgentError).code).toBe("AGENT_REVOKED");
    expect(agent.isFatal(err)).toBe(true);
    expect(revoked.spool.count().total).toBe(1);
  });
});
