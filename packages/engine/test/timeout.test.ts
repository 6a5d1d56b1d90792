/**
 * A time-out keeps what was found (issue 17, finding 4): the ScanError carries the rules known
 * to match before the limit (ScanError.partial), and leaves out the rules more data could undo.
 */
import { describe, expect, test } from "vitest";
import { compile, ScanError } from "../src/index.js";

const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
// /(.*a){20}x/ (the rule of the finding) is linear now (vm.ts): this one stays slow by design,
// as in yara: no atom, and at each of the 1 MiB start positions the greedy x+ reads the whole
// 4,096-byte window before \b fails (the unanchored filter cannot rule it out, as it takes \b
// as true)
const SLOW = "rule slow { strings: $a = /x+\\b/ condition: $a }";

function timeoutOf(run: () => unknown): ScanError {
  let err: unknown;
  try {
    run();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ScanError);
  expect((err as ScanError).code).toBe("SCAN_TIMEOUT");
  return err as ScanError;
}

describe("finding 4: a time-out keeps the detections made before it", () => {
  const data = Buffer.concat([Buffer.from(EICAR, "latin1"), Buffer.alloc(1 << 20, "x")]);

  test("EICAR then 1 MiB of x under a slow regex: the EICAR rule is in the partial result", () => {
    const rules = compile(`rule eicar { strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $a }\n${SLOW}`);
    const started = Date.now();
    const err = timeoutOf(() => rules.scan(data, { timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(300 + 1000 + 2000);
    expect(err.partial?.matches.map((m) => m.rule)).toEqual(["eicar"]);
    expect(err.partial?.matches[0]!.strings[0]!.matches.map((m) => m.offset)).toEqual([28]);
  });

  test("rules more matches could undo are left out; monotone ones (counts, of, loops, references) kept", () => {
    const rules = compile(String.raw`
rule plain { strings: $a = "EICAR" condition: $a at 28 and filesize > 100 }
rule count_ge { strings: $a = "EICAR" condition: #a >= 1 }
rule any_of { strings: $a = "EICAR" $b = "nowhere" condition: any of them }
rule for_of { strings: $a = "EICAR" condition: for any of ($a) : ($ at 28) }
rule ref { condition: plain or count_ge }
rule count_eq { strings: $a = "EICAR" condition: #a == 1 }
rule negated { strings: $a = "EICAR" $b = "nowhere" condition: $a and not $b }
rule none_of { strings: $b = "nowhere" condition: none of them }
rule offset { strings: $a = "EICAR" condition: @a[1] == 28 }
rule ref_bad { condition: count_eq }
${SLOW}`);
    const monotone = Object.fromEntries(rules.data.rules.map((r) => [r.name, r.monotone]));
    expect(monotone).toEqual({
      plain: true,
      count_ge: true,
      any_of: true,
      for_of: true,
      ref: true,
      count_eq: false,
      negated: false,
      none_of: false,
      offset: false,
      ref_bad: false,
      slow: true,
    });
    const err = timeoutOf(() => rules.scan(data, { timeoutMs: 300 }));
    expect(err.partial?.matches.map((m) => m.rule)).toEqual(["plain", "count_ge", "any_of", "for_of", "ref"]);
  });

  test("a global rule that may still change hides its namespace; a sure one does not", () => {
    const sure = compile(
      `global rule g { strings: $a = "EICAR" condition: $a }\nrule r { strings: $a = "ANTIVIRUS" condition: $a }\n${SLOW}`,
    );
    expect(timeoutOf(() => sure.scan(data, { timeoutMs: 200 })).partial?.matches.map((m) => m.rule)).toEqual([
      "g",
      "r",
    ]);
    const unsure = compile(
      `global rule g { strings: $a = "EICAR" condition: #a == 1 }\nrule r { strings: $a = "ANTIVIRUS" condition: $a }\n${SLOW}`,
    );
    expect(timeoutOf(() => unsure.scan(data, { timeoutMs: 200 })).partial?.matches).toEqual([]);
  });

  test("a time-out in the conditions keeps the rules evaluated before it, exactly", () => {
    const rules = compile(String.raw`
rule before { strings: $a = "EICAR" condition: #a == 1 }
rule loop { condition: for all i in (0..10000000000) : ( i >= 0 ) }
rule after { strings: $a = "EICAR" condition: $a }`);
    const err = timeoutOf(() => rules.scan(Buffer.from(EICAR, "latin1"), { timeoutMs: 200 }));
    expect(err.partial?.matches.map((m) => m.rule)).toEqual(["before"]);
  });

  test("without a time-out nothing changes: every rule is reported as before", () => {
    const rules = compile(`rule eicar { strings: $a = "EICAR" condition: #a == 1 }`);
    expect(rules.scan(Buffer.from(EICAR, "latin1"), { timeoutMs: 10_000 }).matches.map((m) => m.rule)).toEqual([
      "eicar",
    ]);
  });
});
