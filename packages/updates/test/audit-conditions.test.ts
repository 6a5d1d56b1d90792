/**
 * The auditor reads conditions (issue 19): a rule confined by its condition to document formats
 * and carrying no indicator of executable or script malware is a document hunter until shown
 * otherwise, and names of people, organisations, projects or classifications in its strings make
 * the finding high. Rules that detect malicious documents by exploit structure, macros, embedded
 * payloads or DDE are not flagged.
 */
import { describe, expect, it } from "vitest";
import { auditBundleFile, auditRules, failing, formatFinding, type Finding } from "@vigil/updates";
import { CONDITION_HUNTERS, MALDOC_RULES } from "./audit-condition-fixtures.js";
import { MALWARE_RULES } from "./audit-fixtures.js";

const audit = (src: string): Finding[] => auditRules(src, { path: "c.yar" });
const hex = (s: string, enc: BufferEncoding = "latin1") => Buffer.from(s, enc).toString("hex");

describe("the auditor on rules that hunt documents by their condition", () => {
  for (const [name, h] of Object.entries(CONDITION_HUNTERS)) {
    it(`flags ${name} as a document hunter, ${h.severity}, saying why`, () => {
      const f = audit(h.src).filter((x) => x.code === "document-target");
      expect(f, audit(h.src).map(formatFinding).join("\n")).toHaveLength(1);
      expect(f[0]!.severity).toBe(h.severity);
      expect(f[0]!.reason).toMatch(/confined by its condition/);
      expect(`${f[0]!.evidence}\n${f[0]!.reason}`).toMatch(h.says);
    });
  }

  it("every condition hunter fails the default policy except the one whose strings name nobody", () => {
    for (const [name, h] of Object.entries(CONDITION_HUNTERS))
      expect(failing(audit(h.src)).length > 0, name).toBe(h.severity === "high");
  });

  for (const [name, src] of Object.entries(MALDOC_RULES)) {
    it(`does not flag the malicious-document rule ${name}`, () => {
      expect(audit(src).map(formatFinding)).toEqual([]);
    });
  }

  it("an indicator in the strings is what clears a confined rule: the same rule without it is flagged", () => {
    const withMacro = `rule R { strings: $a = "Joint Staff" $m = "Document_Open" condition: uint32(0) == 0xE011CFD0 and $a and $m }`;
    expect(audit(withMacro)).toEqual([]);
    const without = `rule R { strings: $a = "Joint Staff" condition: uint32(0) == 0xE011CFD0 and $a }`;
    expect(audit(without).map((f) => [f.code, f.severity])).toEqual([["document-target", "high"]]);
  });

  it("a decoy indicator the condition can do without does not clear a rule that names an organisation", () => {
    const decoy = `rule R { strings: $a = "Joint Staff" $js = "/JavaScript" condition: uint32(0) == 0x46445025 and ($a or $js) }`;
    const f = audit(decoy);
    expect(f.map((x) => [x.code, x.severity])).toEqual([["document-target", "high"]]);
    expect(f[0]!.evidence).toMatch(/its indicators \(\$js\) are not needed/);
    // needed indicators clear it: `and`, or an `any of` made only of indicators
    expect(audit(decoy.replace("($a or $js)", "$a and $js"))).toEqual([]);
    // and a mixed `any of` of neutral strings (the shape of honest maldoc rules) is left alone
    expect(
      audit(
        `rule R { strings: $d = { D0 CF 11 E0 } $s1 = "dw20.exe" $s2 = "cmd /" condition: $d at 0 and 1 of ($s*) }`,
      ),
    ).toEqual([]);
  });

  it("an `or` with a non-document branch does not confine; `not` never does; magic elsewhere than 0 does not; a document header inside a file of another type (PNG) does not", () => {
    for (const cond of [
      "uint32(0) == 0xE011CFD0 or $a",
      "not (uint32(0) == 0x46445025) and $a",
      "uint32(4) == 0xE011CFD0 and $a",
      "$m at 4096 and $a",
      "uint32be(0) == 0x89504E47 and $m and $a",
      "(uint16(0) == 0x5A4D or uint32(0) == 0x464C457F) and $m and $a",
    ])
      expect(
        audit(`rule R { strings: $m = "%PDF-" $a = "readiness report" condition: ${cond} }`).filter(
          (f) => f.code === "document-target",
        ),
        cond,
      ).toEqual([]);
  });

  it("a document header anywhere in the file confines: the file holds such a document", () => {
    const f = audit(`rule R { strings: $m = "%PDF-" $a = "readiness report" condition: $m and $a }`);
    expect(f.map((x) => [x.code, x.severity])).toEqual([["document-target", "high"]]);
    expect(f[0]!.evidence).toMatch(/\$m \(anywhere in the file\)/);
  });

  it("a name-like string in an executable rule is no finding (names raise a document finding, they are none alone)", () => {
    expect(audit(`rule R { strings: $a = "Anna Kowalska" condition: uint16(0) == 0x5A4D and $a }`)).toEqual([]);
    expect(audit(`rule R { strings: $a = "Ministry of Defence" condition: uint16(0) == 0x5A4D and $a }`)).toEqual([]);
  });

  it("a chain of 20,000 rules each using the one before is read in file order, without exhausting the stack", () => {
    const n = 20_000;
    const rules = ["rule R0 { condition: uint32(0) == 0x46445025 }"];
    for (let i = 1; i < n; i++) rules.push(`private rule R${i} { condition: R${i - 1} }`);
    rules.push(`rule Last { strings: $a = "Joint Staff" condition: R${n - 1} and $a }`);
    const f = audit(rules.join("\n")).filter((x) => x.code === "document-target");
    expect(f.map((x) => [x.rule, x.severity])).toEqual([
      ["R0", "high"],
      ["Last", "high"],
    ]);
    // forward references (not valid YARA, but parsed) stop at a bounded depth instead of overflowing
    const fwd = [];
    for (let i = 0; i < n; i++) fwd.push(`rule F${i} { condition: F${i + 1} }`);
    fwd.push(`rule F${n} { condition: uint32(0) == 0x46445025 }`);
    expect(() => audit(fwd.join("\n"))).not.toThrow();
  }, 60_000);

  it("the malware rules of the first fixtures stay clean", () => {
    for (const [name, src] of Object.entries(MALWARE_RULES)) expect(audit(src).map(formatFinding), name).toEqual([]);
  });
});

describe("the same analysis on ClamAV signatures", () => {
  it("an .ldb confined to OLE2 or PDF by Target, or to a document container, hunting an office's name is flagged", () => {
    const ldb = [
      `Doc.Hunt.Target-1;Engine:51-255,Target:2;0;${hex("Directorate of Operations")}`,
      `Doc.Hunt.Pdf-1;Engine:81-255,Target:10;0&1;${hex("Joint Staff")};${hex("readiness report")}`,
      `Doc.Hunt.Container-1;Engine:81-255,Container:CL_TYPE_MSOLE2;0;${hex("Bundesministerium der Verteidigung")}`,
      `Doc.Hunt.Magic-1;Engine:51-255,Target:0;0&1;0:d0cf11e0a1b11ae1;${hex("Project NIGHTFALL")}`,
    ].join("\n");
    const f = auditBundleFile("daily.ldb", Buffer.from(`${ldb}\n`)).filter((x) => x.code === "document-target");
    expect(f.map((x) => [x.line, x.severity])).toEqual([
      [1, "high"],
      [2, "high"],
      [3, "high"],
      [4, "high"],
    ]);
    expect(f[0]!.evidence).toMatch(/Target:2/);
    expect(f[2]!.evidence).toMatch(/CL_TYPE_MSOLE2/);
  });

  it("an .ndb body signature confined to PDF (target type 10) with no indicator is flagged; one with a macro name is not", () => {
    const ndb = `Pdf.Hunt-1:10:*:${hex("Ministry of Foreign Affairs")}\nDoc.Macro-1:2:*:${hex("Document_Open")}\n`;
    const f = auditBundleFile("daily.ndb", Buffer.from(ndb));
    expect(f.map((x) => [x.line, x.code, x.severity])).toEqual([[1, "document-target", "high"]]);
  });

  it("ClamAV signatures for malicious documents (macros, equation editor bytes, embedded PE) are not flagged", () => {
    const ldb = [
      `Doc.Downloader.Macro-1;Engine:51-255,Target:2;0&1;${hex("AutoOpen")};${hex("CreateObject")}`,
      `Doc.Exploit.CVE_2017_11882-1;Engine:51-255,Target:2;0;1c00000002009ec4a9000000000000c8a75c00c4ee5b00`,
      `Doc.Dropper.EmbeddedPE-1;Engine:51-255,Container:CL_TYPE_MSOLE2;0;4d5a90000300000004000000ffff`,
      `Pdf.Exploit.Js-1;Engine:51-255,Target:10;0&1;${hex("/OpenAction")};${hex("/JavaScript")}`,
    ].join("\n");
    expect(auditBundleFile("daily.ldb", Buffer.from(`${ldb}\n`)).map(formatFinding)).toEqual([]);
  });
});
