import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  builtinKeys,
  builtinPackPaths,
  generatePackKey,
  loadPack,
  parsePack,
  parsePublicKey,
  PACKS_DIR,
  signPack,
  signedBytes,
  validatePack,
  type PolicyPack,
} from "@vigil/inventory";

const template = (): PolicyPack => JSON.parse(readFileSync(`${PACKS_DIR}template.json`, "utf8")) as PolicyPack;

describe("shipped packs", () => {
  it("the Kaspersky pack verifies with the shipped key and carries the determination's dates", () => {
    const paths = builtinPackPaths();
    expect(paths.map((p) => p.slice(PACKS_DIR.length))).toEqual(["us-commerce-2024-kaspersky.json"]);
    const { pack, signedBy } = loadPack(paths[0]!, builtinKeys());
    expect(signedBy).toEqual(["vigil-policy-packs"]);
    expect(pack.prohibitions.map((p) => [p.effective, p.forbids])).toEqual([
      ["2024-07-20", ["sale", "install"]],
      ["2024-09-29", ["updates", "network-service"]],
    ]);
    expect(pack.vendors[0]!.aliases).toContain("AO Kaspersky Lab");
  });

  it("the template is a valid pack, and is not loaded unsigned", () => {
    const t = template();
    expect(() => validatePack(t, "template")).not.toThrow();
    expect(() => parsePack(JSON.stringify(t), "template.json", builtinKeys())).toThrow(
      expect.objectContaining({ code: "PACK_SIGNATURE", message: expect.stringMatching(/not signed/) }),
    );
  });
});

describe("signing", () => {
  const k = generatePackKey("org-security");
  const pub = parsePublicKey(k.publicFile);

  it("sign then load; a second signer is added next to the first", () => {
    const signed = signPack(template(), k.privatePem);
    expect(signed.signatures).toHaveLength(1);
    expect(signed.signatures![0]!.keyId).toBe(k.keyId);
    expect(parsePack(JSON.stringify(signed, null, 2), "p.json", [pub]).signedBy).toEqual(["org-security"]);
    // key order and whitespace do not matter: the canonical form is signed
    const reordered = Object.fromEntries(Object.entries(signed).reverse());
    expect(parsePack(JSON.stringify(reordered), "p.json", [pub]).signedBy).toEqual(["org-security"]);
    const k2 = generatePackKey("second");
    const twice = signPack(signed, k2.privatePem);
    expect(parsePack(JSON.stringify(twice), "p.json", [pub, parsePublicKey(k2.publicFile)]).signedBy).toEqual([
      "org-security",
      "second",
    ]);
    expect(signedBytes(twice).toString("utf8")).toMatch(/^vigil-policy-pack\/v1\n\{"authority":/);
  });

  it("any change after signing is refused", () => {
    const signed = signPack(template(), k.privatePem);
    const tampered = structuredClone(signed);
    tampered.prohibitions[1]!.effective = "2099-01-01";
    expect(() => parsePack(JSON.stringify(tampered), "p.json", [pub])).toThrow(
      expect.objectContaining({ code: "PACK_SIGNATURE", message: expect.stringMatching(/changed after signing/) }),
    );
    const alias = structuredClone(signed);
    alias.vendors[0]!.aliases!.pop();
    expect(() => parsePack(JSON.stringify(alias), "p.json", [pub])).toThrow(
      expect.objectContaining({ code: "PACK_SIGNATURE" }),
    );
  });

  it("a pack signed by an unknown key is untrusted", () => {
    const other = generatePackKey("other");
    const signed = signPack(template(), other.privatePem);
    expect(() => parsePack(JSON.stringify(signed), "p.json", [pub, ...builtinKeys()])).toThrow(
      expect.objectContaining({ code: "PACK_UNTRUSTED", message: expect.stringMatching(/--trust-key/) }),
    );
  });

  it("bad keys are BAD_KEY", () => {
    expect(() => parsePublicKey("{}")).toThrow(expect.objectContaining({ code: "BAD_KEY" }));
    expect(() => parsePublicKey('{"name":"x","algorithm":"ed25519","publicKey":"AAAA"}')).toThrow(
      expect.objectContaining({ code: "BAD_KEY" }),
    );
    expect(() => signPack(template(), "not a key")).toThrow(expect.objectContaining({ code: "BAD_KEY" }));
  });
});

describe("validation", () => {
  const cases: Array<[string, (p: any) => void, RegExp]> = [
    [
      "format",
      (p) => {
        p.format = "x";
      },
      /\.format: must be "vigil-policy-pack"/,
    ],
    [
      "formatVersion",
      (p) => {
        p.formatVersion = 2;
      },
      /formatVersion/,
    ],
    [
      "version",
      (p) => {
        p.version = 0;
      },
      /\.version: must be a positive integer/,
    ],
    [
      "issued",
      (p) => {
        p.issued = "15/01/2026";
      },
      /\.issued/,
    ],
    [
      "vendor id",
      (p) => {
        p.vendors[0].id = "Bad Id";
      },
      /vendors\[0\]\.id/,
    ],
    [
      "duplicate vendor",
      (p) => {
        p.vendors.push({ ...p.vendors[0] });
      },
      /duplicate vendor id/,
    ],
    [
      "package source",
      (p) => {
        p.vendors[0].packages[0].sources = ["winget"];
      },
      /unknown source "winget"/,
    ],
    [
      "hash",
      (p) => {
        p.vendors[0].hashes[0].sha256 = "abc";
      },
      /hashes\[0\]\.sha256: must be 64 hex digits/,
    ],
    [
      "effective",
      (p) => {
        p.prohibitions[0].effective = "2026-13-45x";
      },
      /prohibitions\[0\]\.effective/,
    ],
    [
      "forbids",
      (p) => {
        p.prohibitions[0].forbids = ["everything"];
      },
      /forbids: must list some of sale, install/,
    ],
    [
      "prohibition vendor",
      (p) => {
        p.prohibitions[0].vendors = ["nobody"];
      },
      /no vendor with id "nobody"/,
    ],
    [
      "aliases",
      (p) => {
        p.vendors[0].aliases = ["ok", 3];
      },
      /aliases: must be a list of non-empty strings/,
    ],
  ];
  for (const [what, change, msg] of cases) {
    it(`rejects a bad ${what}`, () => {
      const p = template();
      change(p);
      expect(() => validatePack(p, "pack.json")).toThrow(
        expect.objectContaining({ code: "BAD_PACK", message: expect.stringMatching(msg) }),
      );
    });
  }
  it("not JSON, not an object", () => {
    expect(() => parsePack("{", "p.json", [])).toThrow(
      expect.objectContaining({ code: "BAD_PACK", message: expect.stringMatching(/not JSON/) }),
    );
    expect(() => parsePack("[]", "p.json", [])).toThrow(expect.objectContaining({ code: "BAD_PACK" }));
    expect(() => loadPack("/nonexistent.json", [])).toThrow(expect.objectContaining({ code: "READ_FAILED" }));
  });
});
