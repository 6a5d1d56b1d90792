/**
 * The outbound ledger's hash chain: appending, verifying, and each kind of tampering (an edited
 * line, an edited line with its hash recomputed, a deleted line, two lines swapped, lines cut off
 * the end, a line cut in the middle, the head file removed) is detected at the right line; the
 * agent refuses to write on top of a broken ledger; a crash mid-append is recovered.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";

const { Ledger, GENESIS, lineHash, canonicalJson, sha256Hex } = agent;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fresh(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-ledger-"));
  dirs.push(d);
  return d;
}

/** A ledger with 4 requests and their results: 8 lines. */
function filled(): { dir: string; ledger: InstanceType<typeof Ledger>; lines: string[] } {
  const dir = fresh();
  const ledger = new Ledger(dir);
  for (let i = 0; i < 4; i++) {
    const body = i % 2 ? Buffer.from(JSON.stringify({ n: i })) : undefined;
    const r = ledger.recordRequest(i % 2 ? "POST" : "GET", `http://127.0.0.1:9/api/v1/x${i}`, body);
    ledger.recordResult(r.seq, i === 3 ? null : 200, 10, i === 3 ? "ECONNREFUSED" : undefined);
  }
  return { dir, ledger, lines: readFileSync(join(dir, "ledger.jsonl"), "utf8").split("\n").filter(Boolean) };
}

function rewrite(dir: string, lines: string[]): void {
  writeFileSync(join(dir, "ledger.jsonl"), lines.map((l) => l + "\n").join(""));
}

describe("ledger chain", () => {
  test("appends request and result lines chained by hash; verify accepts it and reports the head", () => {
    const { dir, ledger, lines } = filled();
    expect(lines).toHaveLength(8);
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed[0].prev).toBe(GENESIS);
    for (let i = 1; i < parsed.length; i++) expect(parsed[i].prev).toBe(parsed[i - 1].hash);
    for (const p of parsed) expect(p.hash).toBe(lineHash(p));
    expect(parsed[1]).toMatchObject({ type: "result", request: 1, status: 200 });
    expect(parsed[2]).toMatchObject({
      type: "request",
      method: "POST",
      host: "127.0.0.1:9",
      bytes: 7,
      bodySha256: sha256Hex('{"n":1}'),
    });
    expect(parsed[0].bodySha256).toBe(sha256Hex(""));
    const v = ledger.verify();
    expect(v).toMatchObject({ ok: true, entries: 8, requests: 4, head: parsed[7].hash });
    expect(ledger.head()).toEqual({ entries: 8, head: parsed[7].hash });
    expect(JSON.parse(readFileSync(join(dir, "ledger.head"), "utf8"))).toEqual({ entries: 8, head: parsed[7].hash });
    const recs = ledger.records();
    expect(recs.map((r) => r.status)).toEqual([200, 200, 200, null]);
    expect(recs[3]!.error).toBe("ECONNREFUSED");
  });

  test("the hash covers prev and the canonical JSON of every other field", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, "x"], c: null } })).toBe('{"a":{"c":null,"d":[1,"x"]},"b":1}');
    const { lines } = filled();
    const l = JSON.parse(lines[2]!);
    const { hash, ...rest } = l;
    expect(hash).toBe(sha256Hex(l.prev + canonicalJson(rest)));
  });

  test("an edited line is found at that line", () => {
    const { dir, ledger, lines } = filled();
    const l = JSON.parse(lines[2]!);
    l.bytes = 3; // claim less was sent
    lines[2] = JSON.stringify(l);
    rewrite(dir, lines);
    const v = ledger.verify();
    expect(v.ok).toBe(false);
    expect(v.problem).toMatchObject({ line: 3 });
    expect(v.problem!.reason).toMatch(/edited/);
    expect(v.entries).toBe(2);
  });

  test("an edited line whose hash was recomputed breaks the next link", () => {
    const { dir, ledger, lines } = filled();
    const l = JSON.parse(lines[2]!);
    l.url = "http://127.0.0.1:9/elsewhere";
    l.hash = lineHash(l);
    lines[2] = JSON.stringify(l);
    rewrite(dir, lines);
    const v = ledger.verify();
    expect(v.problem).toMatchObject({ line: 4 });
    expect(v.problem!.reason).toMatch(/prev/);
  });

  test("a deleted line is found", () => {
    const { dir, ledger, lines } = filled();
    lines.splice(4, 1);
    rewrite(dir, lines);
    const v = ledger.verify();
    expect(v.problem).toMatchObject({ line: 5 });
    expect(v.problem!.reason).toMatch(/deleted|moved/);
  });

  test("two swapped lines are found", () => {
    const { dir, ledger, lines } = filled();
    [lines[3], lines[4]] = [lines[4]!, lines[3]!];
    rewrite(dir, lines);
    expect(ledger.verify().problem).toMatchObject({ line: 4 });
  });

  test("lines cut off the end are found through the head file", () => {
    const { dir, ledger, lines } = filled();
    rewrite(dir, lines.slice(0, 5));
    const v = ledger.verify();
    expect(v.ok).toBe(false);
    expect(v.problem!.reason).toMatch(/records 8 lines, the ledger has 5/);
  });

  test("a line cut in the middle is found", () => {
    const { dir, ledger, lines } = filled();
    writeFileSync(
      join(dir, "ledger.jsonl"),
      lines
        .slice(0, 6)
        .map((l) => l + "\n")
        .join("") + lines[6]!.slice(0, 40),
    );
    const v = ledger.verify();
    expect(v.ok).toBe(false);
    expect(v.problem!.line).toBe(7);
  });

  test("a removed head file is reported (truncation could not be ruled out)", () => {
    const { dir, ledger } = filled();
    unlinkSync(join(dir, "ledger.head"));
    expect(ledger.verify().problem!.reason).toMatch(/head file/);
  });

  test("the whole ledger replaced by a shorter valid chain is found", () => {
    const { dir } = filled();
    const other = new Ledger(dir + "-other");
    dirs.push(dir + "-other");
    other.recordRequest("GET", "http://127.0.0.1:9/", undefined);
    writeFileSync(join(dir, "ledger.jsonl"), readFileSync(join(dir + "-other", "ledger.jsonl")));
    expect(new Ledger(dir).verify().ok).toBe(false);
  });

  test("lines appended by something else after the head are found", () => {
    const { dir, ledger, lines } = filled();
    let prev = JSON.parse(lines[7]!).hash;
    for (let seq = 9; seq <= 10; seq++) {
      const l: Record<string, unknown> = {
        seq,
        type: "request",
        time: new Date().toISOString(),
        method: "GET",
        url: "http://x/",
        host: "x",
        bytes: 0,
        bodySha256: sha256Hex(""),
        prev,
      };
      l.hash = lineHash(l as never);
      prev = l.hash;
      appendFileSync(join(dir, "ledger.jsonl"), JSON.stringify(l) + "\n");
    }
    expect(ledger.verify().problem).toMatchObject({ line: 9 });
  });

  test("the agent refuses to append to a broken ledger and sends nothing", () => {
    const { dir, lines } = filled();
    rewrite(dir, lines.slice(0, 6));
    const l2 = new Ledger(dir);
    expect(() => l2.recordRequest("GET", "http://127.0.0.1:9/", undefined)).toThrow(
      expect.objectContaining({ code: "LEDGER_BROKEN" }),
    );
    expect(readFileSync(join(dir, "ledger.jsonl"), "utf8").split("\n").filter(Boolean)).toHaveLength(6);
  });

  test("after a crash mid-append (a torn line past the head) the next start drops the torn bytes and the chain verifies", () => {
    const { dir, lines } = filled();
    appendFileSync(join(dir, "ledger.jsonl"), '{"seq":9,"type":"requ');
    const before = new Ledger(dir).verify();
    expect(before.ok).toBe(true);
    expect(before.notes.join(" ")).toMatch(/incomplete/);
    const l2 = new Ledger(dir);
    const r = l2.recordRequest("GET", "http://127.0.0.1:9/after", undefined);
    expect(r.seq).toBe(9);
    expect(r.prev).toBe(JSON.parse(lines[7]!).hash);
    expect(l2.verify()).toMatchObject({ ok: true, entries: 9 });
  });

  test("a line written just before a crash (head not yet updated) is adopted", () => {
    const { dir, lines } = filled();
    writeFileSync(join(dir, "ledger.head"), JSON.stringify({ entries: 7, head: JSON.parse(lines[6]!).hash }));
    const v = new Ledger(dir).verify();
    expect(v.ok).toBe(true);
    expect(v.notes.join(" ")).toMatch(/after the recorded head/);
    const l2 = new Ledger(dir);
    expect(l2.recordRequest("GET", "http://127.0.0.1:9/", undefined).seq).toBe(9);
    expect(l2.verify().ok).toBe(true);
  });

  test("an empty ledger verifies with the genesis head", () => {
    const l = new Ledger(fresh());
    expect(l.verify()).toMatchObject({ ok: true, entries: 0, head: GENESIS });
    expect(l.head()).toEqual({ entries: 0, head: GENESIS });
  });
});
