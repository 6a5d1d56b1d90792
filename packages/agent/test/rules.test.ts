/**
 * The severity an agent reports comes from the rule itself: the scanner carries the rule's
 * `severity` meta (and, for ClamAV signatures, the signature name) on each detection, and the
 * agent maps it to the wire's levels ("high" when absent or not a known level). Real rules are
 * compiled the way the agent compiles them (compileRules) and run on bytes with the scanner.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";
import { buildSignatures, DEFAULT_LIMITS, scanBytes } from "@vigil/scanner";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-agent-rules-"));
  dirs.push(d);
  return d;
}

const MARK = "vigil-severity-test-marker";
const RULES = `
rule crit { meta: severity = "Critical" strings: $a = "${MARK}" condition: $a }
rule plain { strings: $a = "${MARK}" condition: $a }
rule odd { meta: severity = "huge" strings: $a = "${MARK}" condition: $a }
rule low_one { meta: severity = "low" author = "x" strings: $a = "${MARK}" condition: $a }
`;

describe("detection severity", () => {
  test("the rule's severity meta reaches the detection and the wire level", () => {
    const dir = tmp();
    const file = join(dir, "sev.yar");
    writeFileSync(file, RULES);
    const rules = agent.compileRules(
      { builtin: false, updateBundle: false, extra: [file] },
      null,
      join(dir, "compiled"),
    );
    const r = scanBytes(rules.setup.detector, Buffer.from(`xx ${MARK} xx`), "t.bin", { limits: DEFAULT_LIMITS });
    const by = new Map(r.detections.map((d) => [d.rule, d]));
    expect([...by.keys()].sort()).toEqual(["crit", "low_one", "odd", "plain"]);
    expect(by.get("crit")!.severity).toBe("critical");
    expect(by.get("plain")!.severity).toBeUndefined();
    expect(by.get("odd")!.severity).toBe("huge");
    expect(by.get("crit")!.clamavName).toBeUndefined();
    expect(agent.severityOf(by.get("crit")!)).toBe("critical");
    expect(agent.severityOf(by.get("low_one")!)).toBe("low");
    expect(agent.severityOf(by.get("plain")!)).toBe("high");
    expect(agent.severityOf(by.get("odd")!)).toBe("high");
  });

  test("a ClamAV body signature's detection carries its signature name and no severity", () => {
    const dir = tmp();
    const db = join(dir, "test.ndb");
    writeFileSync(db, `Vigil.Test.SeverityMarker:0:*:${Buffer.from(MARK).toString("hex")}\n`);
    const setup = buildSignatures({ builtin: false, databases: [db] });
    const r = scanBytes(setup.detector, Buffer.from(`xx ${MARK} xx`), "t.bin", { limits: DEFAULT_LIMITS });
    expect(r.detections).toHaveLength(1);
    const d = r.detections[0]!;
    expect(d.clamavName).toMatch(/^Vigil\.Test\.SeverityMarker/);
    expect(d.name).toBe(d.clamavName);
    expect(d.severity).toBeUndefined();
    expect(agent.severityOf(d)).toBe("high");
  });
});
