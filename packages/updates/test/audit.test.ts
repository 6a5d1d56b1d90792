import { describe, expect, it } from "vitest";
import {
  auditRules,
  bundleAuditor,
  defaultAuditPolicy,
  encodeText,
  expandMarker,
  failing,
  formatFinding,
  parseAuditPolicy,
  regexSkeleton,
  MarkerIndex,
  type Finding,
} from "@vigil/updates";
import { HUNTING_RULES, MALWARE_RULES } from "./audit-fixtures.js";

function audit(src: string): Finding[] {
  return auditRules(src, { path: "t.yar" });
}

describe("the rule auditor on real-looking rules", () => {
  it("finds nothing in malware rules and every document-hunting rule; reports both rates", () => {
    const falseFindings: string[] = [];
    for (const [name, src] of Object.entries(MALWARE_RULES)) {
      const f = audit(src);
      if (f.length) falseFindings.push(`${name}: ${f.map(formatFinding).join("; ")}`);
    }
    const missed: string[] = [];
    for (const [name, src] of Object.entries(HUNTING_RULES)) {
      const f = audit(src);
      if (f.length === 0) missed.push(name);
    }
    const m = Object.keys(MALWARE_RULES).length,
      h = Object.keys(HUNTING_RULES).length;
    console.log(
      `auditor: false findings on malware rules ${falseFindings.length}/${m} (${((100 * falseFindings.length) / m).toFixed(1)}%), detection of hunting rules ${h - missed.length}/${h} (${((100 * (h - missed.length)) / h).toFixed(1)}%)`,
    );
    expect(falseFindings).toEqual([]);
    expect(missed).toEqual([]);
  });

  it("makes every hunting rule a failing (high) finding except the deliberately medium ones", () => {
    const medium = new Set(["short_atoms"]);
    for (const [name, src] of Object.entries(HUNTING_RULES)) {
      const bad = failing(audit(src));
      if (medium.has(name)) expect(bad, name).toEqual([]);
      else expect(bad.length, name).toBeGreaterThan(0);
    }
  });

  it("names the rule, reason, severity and evidence, including the encoding", () => {
    const [f] = audit(HUNTING_RULES.ru_cp1251_hex!);
    expect(f).toMatchObject({
      rule: "Hunt_Sekretno_1251",
      code: "classification-marking",
      severity: "high",
      file: "t.yar",
      line: 1,
    });
    expect(f!.reason).toMatch(/ru classification marking "СЕКРЕТНО"/);
    expect(f!.evidence).toMatch(/string \$a \(windows-1251\)/);
    expect(audit(HUNTING_RULES.xor_hex!)[0]!.evidence).toMatch(/xor 0x5a/);
    expect(audit(HUNTING_RULES.es_base64_text!)[0]!.evidence).toMatch(/base64/);
    expect(audit(HUNTING_RULES.fr_hex_text!)[0]!.evidence).toMatch(/hex text/);
    expect(audit(HUNTING_RULES.pdf_all!).map((x) => x.code)).toEqual(["document-target"]);
    expect(
      audit(HUNTING_RULES.upload_meta!)
        .map((x) => x.code)
        .sort(),
    ).toEqual(["collection-request", "matches-everything"]);
    expect(
      audit(HUNTING_RULES.hash_doc!)
        .map((x) => x.code)
        .sort(),
    ).toEqual(["document-target", "single-file-target"]);
  });

  it("finds marker words under every generated encoding", () => {
    const index = new MarkerIndex([
      { word: "TOP SECRET", lang: "en", severity: "high", upperOnly: false, kind: "marking" },
    ]);
    for (const v of expandMarker("TOP SECRET", { xorKeys: [0x01, 0x41, 0x7f, 0xfe] })) {
      const hits =
        v.encoding === "base64" || v.encoding === "hex text"
          ? audit(`rule R { strings: $a = "${Buffer.from(v.bytes).toString("latin1")}" condition: $a }`).map(
              (f) => f.evidence,
            )
          : index.searchBytes(v.bytes).map((h) => h.encoding);
      expect(hits.length, v.encoding).toBeGreaterThan(0);
    }
  });

  it("does not flag generic words in lower case, inside longer words, or under the case-flip key", () => {
    expect(
      audit(
        'rule R { strings: $a = "client_secret" $b = "SECRETARY" $c = "[ -s secret ]" nocase condition: uint16(0) == 0x5A4D and all of them }',
      ),
    ).toEqual([]);
    expect(audit('rule R { strings: $a = "the secret garden" condition: uint16(0) == 0x5A4D and $a }')).toEqual([]);
    expect(audit('rule R { strings: $a = "SECRET" condition: uint16(0) == 0x5A4D and $a }').length).toBe(1);
  });

  it("treats private helper rules through the rules that use them", () => {
    const src = "private rule IsPDF { condition: uint32(0) == 0x46445025 }\nrule AllPDFs { condition: IsPDF }";
    const f = audit(src);
    expect(f.map((x) => [x.rule, x.code])).toEqual([["AllPDFs", "document-target"]]);
  });

  it("audits generated rules with 10,000-term conditions, as the engine compiles them (issue 17, finding 5)", () => {
    const terms = (op: string) => Array.from({ length: 10000 }, (_, i) => `filesize == ${i}`).join(` ${op} `);
    const ioc = `rule ioc { strings: $a = "ffd8ffe0aa10" condition: $a and (${terms("or")}) and ${"not ".repeat(3000)}false }`;
    // audited like a short rule (the filesize terms pin single files), not a crash
    expect(audit(ioc).map((f) => f.code)).toEqual(["single-file-target"]);
    // the checks still see through the chain: a condition true for every file is found
    expect(audit(`rule loose { condition: ${terms("or")} or true }`).map((f) => f.code)).toContain(
      "matches-everything",
    );
  });

  it("reports unparseable rules as a failing finding", () => {
    const f = audit("rule Broken { condition: ");
    expect(f[0]).toMatchObject({ code: "unparseable", severity: "high" });
  });

  it("extends the default policy from a policy file", () => {
    const p = parseAuditPolicy(
      JSON.stringify({
        format: "vigil-audit-policy/v1",
        extends: "default",
        version: "acme-1",
        failOn: "medium",
        markings: [{ lang: "en", case: "insensitive", severity: "high", words: ["PROJECT BLUEBIRD"] }],
      }),
    );
    expect(p.version).toBe(`${defaultAuditPolicy().version}+acme-1`);
    expect(p.markings.length).toBe(defaultAuditPolicy().markings.length + 1);
    const src = 'rule B { strings: $a = "project bluebird" nocase condition: $a }';
    expect(auditRules(src).length).toBe(0);
    expect(auditRules(src, { policy: p })[0]!.code).toBe("classification-marking");
    expect(failing(auditRules(HUNTING_RULES.short_atoms!, { policy: p }), p).length).toBe(1);
    expect(() => parseAuditPolicy('{"format":"other"}')).toThrow(/format/);
    expect(() =>
      parseAuditPolicy('{"format":"vigil-audit-policy/v1","markings":[{"lang":"x","severity":"huge","words":["a"]}]}'),
    ).toThrow(/severity/);
    expect(() => parseAuditPolicy("not json")).toThrow(/JSON/);
  });

  it("audits a bundle for a witness", () => {
    const audit = bundleAuditor();
    const ok = audit({} as never, [{ path: "a.yar", data: new Uint8Array(Buffer.from(MALWARE_RULES.mimikatz!)) }]);
    expect(ok.pass).toBe(true);
    const bad = audit({} as never, [{ path: "h.yar", data: new Uint8Array(Buffer.from(HUNTING_RULES.zh_gbk_hex!)) }]);
    expect(bad.pass).toBe(false);
    expect(bad.reasons[0]).toMatch(
      /h\.yar:1: high: rule Hunt_Jimi_GBK: looks for the zh classification marking "机密"/,
    );
  });

  it("encodes text in legacy character sets and skeletonises regexes", () => {
    expect([...encodeText("СЕ", "windows-1251")!]).toEqual([0xd1, 0xc5]);
    expect([...encodeText("机密", "gbk")!]).toEqual([0xbb, 0xfa, 0xc3, 0xdc]);
    expect(encodeText("机", "windows-1251")).toBeUndefined();
    expect(regexSkeleton("T\\s*O\\s*P\\s+S\\s*E\\s*C\\s*R\\s*E\\s*T")).toBe("T O P S E C R E T".replace(/ /g, " "));
    expect(regexSkeleton("[Ss]ecret\\.doc")).toBe("Secret.doc");
  });
});
