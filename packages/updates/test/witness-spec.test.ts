/**
 * The witness and the log's client against the text of c2sp.org/tlog-witness as it stands in the
 * C2SP repository (each test quotes the sentence it checks), a witness network's log list
 * (witness-network.org "logs/v0"), the log served as tlog-tiles asks, and a third party's
 * ML-DSA-44 log (litewitness's published add-checkpoint request, replayed byte for byte).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MerkleTree, formatCheckpoint, generateKey, openNote, originAdvice, signNote, splitNote } from "@vigil/tlog";
import {
  DiskLog,
  Witness,
  addCheckpointBody,
  parseLogList,
  requestCosignature,
  serveLog,
  witnessLogsFromList,
} from "@vigil/updates";
import { closeServer, tempDir } from "./helpers.js";

const ORIGIN = "log.example/spec";

async function setup(opts: { keys?: string[]; clock?: number } = {}) {
  const log = generateKey(ORIGIN);
  const stranger = generateKey("stranger.example/k");
  const w = generateKey("witness.example/ed", "cosignature");
  const dir = await tempDir("vigil-wspec-");
  let clock = opts.clock ?? 1_700_000_000;
  const witness = new Witness({
    key: opts.keys ?? w.signerKey,
    stateDir: dir,
    logs: [{ origin: ORIGIN, keys: [log.verifierKey] }],
    now: () => clock,
  });
  const tree = new MerkleTree();
  const grow = (n: number) => {
    for (let i = 0; i < n; i++) tree.append(`entry ${tree.size}`);
  };
  const cp = (keys: string[] = [log.signerKey]) =>
    signNote(formatCheckpoint({ origin: ORIGIN, size: BigInt(tree.size), rootHash: tree.root() }), keys);
  return { log, stranger, w, dir, witness, tree, grow, cp, tick: (s: number) => (clock += s) };
}

async function listen(w: Witness, prefix = ""): Promise<{ server: Server; url: string }> {
  const server = await w.listen(0, "127.0.0.1", prefix);
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}` };
}

/** A stand-in for a witness that answers what the test says, to check the log's client. */
async function fakeWitness(answer: (body: string) => { status: number; type?: string; body: string }) {
  const seen: string[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    seen.push(body);
    const a = answer(body);
    res.writeHead(a.status, a.type ? { "content-type": a.type } : {});
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("tlog-witness: the witness", () => {
  it('"it MUST ignore signatures from unknown keys": a checkpoint also signed by a stranger is cosigned', async () => {
    const s = await setup();
    s.grow(3);
    const r = await s.witness.addCheckpoint(addCheckpointBody(0n, [], s.cp([s.stranger.signerKey, s.log.signerKey])));
    expect(r.status).toBe(200);
    // only the stranger: "no signature from a trusted key for the origin is present" -> 403
    expect((await s.witness.addCheckpoint(addCheckpointBody(3n, [], s.cp([s.stranger.signerKey])))).status).toBe(403);
  });

  it('"The signatures MUST be cosignatures from the witness key(s)": an Ed25519 and an ML-DSA-44 key, one line each', async () => {
    const pq = generateKey("witness.example/pq", "cosignature-mldsa");
    const ed = generateKey("witness.example/ed", "cosignature");
    const s = await setup({ keys: [ed.signerKey, pq.signerKey] });
    s.grow(4);
    const r = await s.witness.addCheckpoint(addCheckpointBody(0n, [], s.cp()));
    expect(r.status).toBe(200);
    const lines = r.body.split("\n").filter(Boolean);
    expect(lines.map((l) => l.split(" ")[1])).toEqual(["witness.example/ed", "witness.example/pq"]);
    expect(r.body.endsWith("\n")).toBe(true);
    const opened = openNote(s.cp() + r.body, [s.log.verifierKey, ed.verifierKey, pq.verifierKey]);
    expect(opened.verified).toEqual([ORIGIN, "witness.example/ed", "witness.example/pq"]);
    expect(s.witness.name).toBe("witness.example/ed");
  });

  it('"the timestamp MUST NOT be zero", even on a clock that says 0', async () => {
    const s = await setup({ clock: 0 });
    s.grow(1);
    const r = await s.witness.addCheckpoint(addCheckpointBody(0n, [], s.cp()));
    expect(r.status).toBe(200);
    const opened = openNote(s.cp() + r.body, [s.log.verifierKey, s.w.verifierKey]);
    expect(opened.signatures[1]!.timestamp).toBeGreaterThan(0);
  });

  it('monitoring: "it MUST include the cosignature(s) from the witness\'s key(s) ... and the cosignature from the log key(s) that the witness verified"', async () => {
    const s = await setup();
    const { server, url } = await listen(s.witness, "/w");
    try {
      const hash = createHash("sha256").update(ORIGIN).digest("hex");
      // "If the witness has never cosigned a checkpoint for that log, it MUST respond with a 404"
      expect((await fetch(`${url}/${hash}/checkpoint`)).status).toBe(404);
      s.grow(2);
      const submitted = s.cp([s.log.signerKey, s.stranger.signerKey]);
      const r = await fetch(`${url}/add-checkpoint`, { method: "POST", body: addCheckpointBody(0n, [], submitted) });
      expect(r.status).toBe(200);
      const cosig = await r.text();
      const mon = await fetch(`${url}/${hash}/checkpoint?x=1`);
      expect(mon.status).toBe(200);
      const served = await mon.text();
      const { signatureLines } = splitNote(served);
      // the log's verified signature and the witness's cosignature; the stranger's is not vouched for
      expect(signatureLines.map((l) => l.split(" ")[1])).toEqual([ORIGIN, "witness.example/ed"]);
      expect(signatureLines[1]).toBe(cosig);
      expect(openNote(served, [s.log.verifierKey, s.w.verifierKey]).verified).toEqual([ORIGIN, "witness.example/ed"]);
      // the origin hash is lowercase hex: upper case is another path
      expect((await fetch(`${url}/${hash.toUpperCase()}/checkpoint`)).status).toBe(404);
    } finally {
      await closeServer(server);
    }
  });

  it('"The request MUST be an HTTP POST": other methods get 405 with Allow: POST', async () => {
    const s = await setup();
    const { server, url } = await listen(s.witness);
    try {
      for (const method of ["GET", "PUT", "DELETE"]) {
        const r = await fetch(`${url}/add-checkpoint`, { method });
        expect(r.status).toBe(405);
        expect(r.headers.get("allow")).toBe("POST");
      }
    } finally {
      await closeServer(server);
    }
  });

  it('a log signing its checkpoints with ML-DSA-44 (tlog-checkpoint: "Logs SHOULD use ML-DSA-44"): litewitness\'s published request is cosigned', async () => {
    const vector = (f: string) => readFileSync(new URL(`../../tlog/test/vectors/${f}`, import.meta.url), "utf8");
    const logVkey = vector("torchwood-mldsa-log.txt").trim();
    const body = vector("torchwood-mldsa-add-checkpoint.txt");
    const pq = generateKey("example.com/witness", "cosignature-mldsa");
    const dir = await tempDir("vigil-wspec-");
    const w = new Witness({
      key: pq.signerKey,
      stateDir: dir,
      logs: [{ origin: "example.com/mldsa-log", keys: [logVkey] }],
    });
    const r = await w.addCheckpoint(body);
    expect(r.status).toBe(200);
    expect(r.body.startsWith("\u2014 example.com/witness ")).toBe(true);
    const note = body.slice(body.indexOf("\n\n") + 2);
    expect(openNote(note + r.body, [logVkey, pq.verifierKey]).verified).toEqual([
      "example.com/mldsa-log",
      "example.com/witness",
    ]);
    // replayed: the witness is at 1 now, so old 0 is a 409 with its size
    expect(await w.addCheckpoint(body)).toEqual({ status: 409, body: "1\n", contentType: "text/x.tlog.size" });
    // one flipped signature byte: "the signature itself fails to verify" -> 403
    const sigStart = body.indexOf("\u2014 example.com/mldsa-log ") + 30;
    const flipped = body.slice(0, sigStart) + (body[sigStart] === "A" ? "B" : "A") + body.slice(sigStart + 1);
    const fresh = new Witness({
      key: pq.signerKey,
      stateDir: await tempDir("vigil-wspec-"),
      logs: [{ origin: "example.com/mldsa-log", keys: [logVkey] }],
    });
    expect((await fresh.addCheckpoint(flipped)).status).toBe(403);
  });
});

describe("witness configuration", () => {
  it("a bad witness key, a bad log key or a log configured twice is refused at start, not per request", async () => {
    const stateDir = await tempDir("vigil-wspec-");
    const log = generateKey(ORIGIN);
    const key = generateKey("witness.example/ed", "cosignature").signerKey;
    const make = (o: Partial<ConstructorParameters<typeof Witness>[0]>) => () =>
      new Witness({ key, stateDir, logs: [{ origin: ORIGIN, keys: [log.verifierKey] }], ...o });
    expect(make({ key: "PRIVATE+KEY+nonsense" })).toThrow(expect.objectContaining({ code: "BAD_KEY" }));
    expect(make({ key: [] })).toThrow(expect.objectContaining({ code: "BAD_KEY" }));
    expect(make({ logs: [{ origin: ORIGIN, keys: ["not a vkey"] }] })).toThrow(/log log\.example\/spec: /);
    expect(make({ logs: [{ origin: ORIGIN, keys: [] }] })).toThrow(expect.objectContaining({ code: "BAD_POLICY" }));
    expect(
      make({
        logs: [
          { origin: ORIGIN, keys: [log.verifierKey] },
          { origin: ORIGIN, keys: [log.verifierKey] },
        ],
      }),
    ).toThrow(/configured twice/);
    expect(make({})).not.toThrow();
  });
});

describe("tlog-witness: the log's client", () => {
  it('409 must be "the tree size ... in decimal, followed by a newline" with "a Content-Type of text/x.tlog.size"', async () => {
    const s = await setup();
    s.grow(2);
    for (const bad of [
      { status: 409, type: "text/plain", body: "1\n" },
      { status: 409, type: "text/x.tlog.size", body: "1" },
      { status: 409, type: "text/x.tlog.size", body: "01\n" },
      { status: 409, body: "" },
    ]) {
      const f = await fakeWitness(() => bad);
      try {
        await expect(requestCosignature(f.url, s.cp(), () => [], 0n)).rejects.toThrow(/409 without its size/);
        expect(f.seen.length).toBe(1); // no retry on a malformed 409
      } finally {
        await closeServer(f.server);
      }
    }
  });

  it("an endless answer is cut off, not buffered", async () => {
    const s = await setup();
    s.grow(1);
    const f = await fakeWitness(() => ({ status: 200, body: `\u2014 ${"A".repeat(3 * 1024 * 1024)}\n` }));
    try {
      await expect(requestCosignature(f.url, s.cp(), () => [], 0n)).rejects.toThrow(/exceeds 1048576 bytes/);
    } finally {
      await closeServer(f.server);
    }
  });

  it("learns the witness's size from a 409 and retries with the proof from that size", async () => {
    const s = await setup();
    s.grow(3);
    const { server, url } = await listen(s.witness);
    try {
      const first = await requestCosignature(url, s.cp(), () => [], 0n, [s.w.verifierKey]);
      expect(first).toHaveLength(1);
      s.grow(5);
      const asked: bigint[] = [];
      const lines = await requestCosignature(
        url,
        s.cp(),
        (old) => {
          asked.push(old);
          return s.tree.consistencyProof(Number(old));
        },
        0n, // a log that lost track of the witness: "MAY initially make a request with a old size of zero"
        [s.w.verifierKey],
      );
      expect(asked).toEqual([0n, 3n]);
      expect(openNote(s.cp() + lines.join(""), [s.w.verifierKey]).verified).toEqual(["witness.example/ed"]);
    } finally {
      await closeServer(server);
    }
  });

  it('"The client MUST ignore any cosignatures from unknown keys"; a bad one by the witness\'s key is a refusal', async () => {
    const s = await setup();
    s.grow(2);
    const checkpoint = s.cp();
    const { text } = splitNote(checkpoint);
    const good = (await s.witness.addCheckpoint(addCheckpointBody(0n, [], checkpoint))).body;
    const imposter = generateKey("witness.example/other", "cosignature");
    const foreign = (await import("@vigil/tlog")).cosignatureLine(text, imposter.signerKey, 1_700_000_000);
    const f = await fakeWitness(() => ({ status: 200, body: foreign + good }));
    try {
      expect(await requestCosignature(f.url, checkpoint, () => [], 0n, [s.w.verifierKey])).toEqual([good]);
      // without the witness's vkey every well-formed line is passed on (the endpoint checks them)
      expect(await requestCosignature(f.url, checkpoint, () => [], 0n)).toEqual([foreign, good]);
    } finally {
      await closeServer(f.server);
    }
    const tampered = good.slice(0, -6) + (good.at(-6) === "A" ? "B" : "A") + good.slice(-5);
    for (const body of [tampered, foreign, good.trimEnd(), "", "\n"]) {
      const g = await fakeWitness(() => ({ status: 200, body }));
      try {
        await expect(requestCosignature(g.url, checkpoint, () => [], 0n, [s.w.verifierKey])).rejects.toMatchObject({
          code: "WITNESS_REFUSED",
        });
      } finally {
        await closeServer(g.server);
      }
    }
  });
});

describe("a witness network's log list (logs/v0)", () => {
  const a = generateKey("tlog.foo.example");
  const b = generateKey("bar.example/tlog");
  const list = [
    "#",
    "# List:      testing",
    "# Revision:  7",
    "#",
    "logs/v0",
    "",
    "# foo's log",
    `vkey ${a.verifierKey}`,
    "qpd 86400",
    "contact https://tlog.foo.example/contact",
    "",
    "  # bar's log, its origin not its key name",
    `  vkey ${b.verifierKey}  `,
    "origin bar.example/tlog/v2",
    "qpd 24",
    "contact sysadmin (at) bar.example",
    "later-keyword something",
    "",
  ].join("\n");

  it("reads vkey, origin (default: the key name), qpd and contact; ignores comments and unknown lines", () => {
    expect(parseLogList(list)).toEqual([
      { origin: "tlog.foo.example", vkey: a.verifierKey, qpd: 86400, contact: "https://tlog.foo.example/contact" },
      { origin: "bar.example/tlog/v2", vkey: b.verifierKey, qpd: 24, contact: "sysadmin (at) bar.example" },
    ]);
    expect(parseLogList("logs/v0\n")).toEqual([]);
  });

  it("refuses a missing header, a bad vkey, a bad qpd, an orphan line and a repeated origin", () => {
    const cases: Array<[string, RegExp]> = [
      [`vkey ${a.verifierKey}\n`, /must start with "logs\/v0"/],
      ["", /no "logs\/v0" header/],
      ["logs/v0\nvkey nonsense\n", /line 2: bad vkey/],
      [`logs/v0\nvkey ${a.verifierKey}\nqpd 0\n`, /qpd must be/],
      [`logs/v0\nvkey ${a.verifierKey}\nqpd 024\n`, /qpd must be/],
      [`logs/v0\nvkey ${a.verifierKey}\nqpd 2147483648\n`, /qpd must be/],
      ["logs/v0\norigin x.example/l\n", /before any "vkey"/],
      [`logs/v0\nvkey ${a.verifierKey}\norigin x.example/a\norigin x.example/b\n`, /a second "origin"/],
      [`logs/v0\nvkey ${a.verifierKey}\nvkey ${a.verifierKey}\n`, /listed twice/],
    ];
    for (const [text, re] of cases) expect(() => parseLogList(text), text).toThrow(re);
  });

  it("mutated lists give entries or BAD_POLICY, never another error", () => {
    let seed = 11;
    const rand = (n: number) => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    let refused = 0;
    for (let i = 0; i < 800; i++) {
      const chars = [...list];
      for (let k = 0; k < 1 + rand(4); k++)
        chars.splice(rand(chars.length), rand(3), ["\n", " ", "#", "+", "0", "\t", "\r", "\u0000", ""][rand(9)]!);
      try {
        for (const e of parseLogList(chars.join(""))) expect(typeof e.origin).toBe("string");
      } catch (e) {
        expect((e as { code?: string }).code, String(e)).toBe("BAD_POLICY");
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it("a witness configured from the list cosigns those logs plainly, even with an auditor set", async () => {
    const dir = await tempDir("vigil-wspec-");
    const w = generateKey("witness.example/net", "cosignature");
    const witness = new Witness({
      key: w.signerKey,
      stateDir: dir,
      logs: witnessLogsFromList(parseLogList(list)),
      audit: () => ({ pass: false, reasons: ["would refuse"] }),
    });
    const tree = new MerkleTree();
    tree.append("an entry of someone else's log");
    const note = (key: string, origin: string) =>
      signNote(formatCheckpoint({ origin, size: 1n, rootHash: tree.root() }), key);
    expect(
      (await witness.addCheckpoint(addCheckpointBody(0n, [], note(b.signerKey, "bar.example/tlog/v2")))).status,
    ).toBe(200);
    expect((await witness.addCheckpoint(addCheckpointBody(0n, [], note(a.signerKey, "tlog.foo.example")))).status).toBe(
      200,
    );
    // bar's key under its key name is not a listed origin
    expect((await witness.addCheckpoint(addCheckpointBody(0n, [], note(b.signerKey, "bar.example/tlog")))).status).toBe(
      404,
    );
  });
});

describe("the log over HTTP (tlog-tiles headers)", () => {
  it("serves checkpoint, tiles, entry bundles and bundles; nothing else", async () => {
    const root = await tempDir("vigil-wspec-");
    const logKey = generateKey("rules.example/log");
    const log = await DiskLog.open(join(root, "log"), logKey.signerKey);
    await log.append(
      Array.from({ length: 3 }, (_, i) => Buffer.from(`entry ${i}`)),
      logKey.signerKey,
    );
    await log.writeFile("bundles/rules-1.tar", Buffer.from("tar bytes"));
    const server = await serveLog(join(root, "log"));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const cp = await fetch(`${url}/checkpoint`);
      expect(cp.status).toBe(200);
      // "with Content-Type: text/plain; charset=utf-8 ... SHOULD prevent caching beyond a few seconds"
      expect(cp.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(cp.headers.get("cache-control")).toMatch(/no-cache|max-age=[0-5]\b/);
      expect(await cp.text()).toBe(log.checkpoint);
      // "with Content-Type: application/octet-stream ... caching headers SHOULD be long-lived"
      for (const p of ["tile/0/000.p/3", "tile/entries/000.p/3"]) {
        const t = await fetch(`${url}/${p}`);
        expect(t.status, p).toBe(200);
        expect(t.headers.get("content-type")).toBe("application/octet-stream");
        expect(t.headers.get("cache-control")).toMatch(/immutable/);
      }
      expect(await (await fetch(`${url}/bundles/rules-1.tar`)).text()).toBe("tar bytes");
      // "Entry bundles SHOULD be compressed at the HTTP layer": gzip when the client accepts it
      const { request } = await import("node:http");
      const raw = (encoding: string) =>
        new Promise<{ headers: Record<string, unknown>; body: Buffer }>((done, fail) => {
          const r = request(`${url}/tile/entries/000.p/3`, { headers: { "accept-encoding": encoding } }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => done({ headers: res.headers, body: Buffer.concat(chunks) }));
          });
          r.on("error", fail);
          r.end();
        });
      const plain = await raw("identity");
      expect(plain.headers["content-encoding"]).toBeUndefined();
      const zipped = await raw("gzip, identity");
      expect(zipped.headers["content-encoding"]).toBe("gzip");
      expect((await import("node:zlib")).gunzipSync(zipped.body)).toEqual(plain.body);
      expect((await raw("gzip;q=0, identity")).headers["content-encoding"]).toBeUndefined();
      const head = await fetch(`${url}/checkpoint`, { method: "HEAD" });
      expect(head.status).toBe(200);
      for (const p of ["tile/0/000", "tile/64/000", "tile/0/0000", "..%2Fsecret", "bundles/..%2F..%2Fetc", "", "x"])
        expect((await fetch(`${url}/${p}`)).status, p).toBe(404);
      expect((await fetch(`${url}/checkpoint`, { method: "POST", body: "x" })).status).toBe(405);
    } finally {
      await closeServer(server);
    }
  });
});

describe("checkpoint origins (tlog-checkpoint)", () => {
  it('"it SHOULD be a schema-less URL containing neither Unicode spaces nor plus"', () => {
    for (const ok of ["example.com/log42", "rules.example/log", "sigsum.org/v1/tree/ab12", "log.example.org"])
      expect(originAdvice(ok), ok).toBeUndefined();
    expect(originAdvice("https://example.com/log")).toMatch(/scheme/);
    expect(originAdvice("my log")).toMatch(/space/);
    expect(originAdvice("a+b.example/x")).toMatch(/'\+'/);
    expect(originAdvice("rules")).toMatch(/domain name/);
    expect(originAdvice("")).toMatch(/empty/);
  });
});
