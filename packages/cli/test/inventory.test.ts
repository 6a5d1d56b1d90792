import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { builtinPackPaths, type InventoryReport } from "@vigil/inventory";
import { buildPe, dpkgStanza, makeTree, regExport, UNINSTALL } from "@vigil/test-kit";
import { run } from "../src/commands/inventory.js";

const cleanups: Array<() => void> = [];
afterAll(() => cleanups.forEach((c) => c()));
function tree(spec: Parameters<typeof makeTree>[0]): string {
  const t = makeTree(spec);
  cleanups.push(t.cleanup);
  return t.root;
}

async function vigil(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "",
    err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => {
    err += String(s);
    return true;
  });
  try {
    const code = await run(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const machine = tree({
  "var/lib/dpkg/status": [
    dpkgStanza({ name: "kesl", version: "12.1.0.1297", maintainer: "AO Kaspersky Lab <support@kaspersky.com>" }),
    dpkgStanza({ name: "bash", version: "5.2.15-2", maintainer: "Matthias Klose <doko@debian.org>" }),
  ].join("\n"),
  "var/lib/dpkg/info/kesl.list": "/opt/kaspersky/kesl/bin/kesl\n",
  "var/lib/dpkg/info/bash.list": "/bin/bash\n",
  "opt/kaspersky/kesl/bin/kesl": readFileSync("/bin/true"),
  "mnt/c/Program Files/KES/avp.exe": buildPe({
    CompanyName: "AO Kaspersky Lab",
    ProductName: "Kaspersky Endpoint Security",
    FileVersion: "12.3.0.493",
  }),
  "exports/uninstall.reg": regExport([
    {
      path: `${UNINSTALL}\\{KES}`,
      values: ['"DisplayName"="Kaspersky Endpoint Security for Windows"', '"Publisher"="AO Kaspersky Lab"'],
    },
  ]),
});
utimesSync(
  join(machine, "var/lib/dpkg/info/kesl.list"),
  new Date("2024-09-30T08:00:00Z"),
  new Date("2024-09-30T08:00:00Z"),
);
const clean = tree({
  "var/lib/dpkg/status": dpkgStanza({ name: "bash", version: "5.2", maintainer: "Matthias Klose <doko@debian.org>" }),
});

describe("vigil inventory", () => {
  it("text: forbidden software, exit 1", async () => {
    const r = await vigil("--root", machine, "--date", "2024-10-01");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^FORBIDDEN {2}dpkg kesl 12\.1\.0\.1297 \(AO Kaspersky Lab\) {2}\/opt\/kaspersky$/m);
    expect(r.out).toMatch(/in force since 2024-09-29: updates, network-service: /);
    expect(r.out).toMatch(
      /^ {4}installed or updated 2024-09-30, after 2024-07-20 \(sale, install\) and 2024-09-29 \(updates, network-service\)$/m,
    );
    expect(r.out).toMatch(
      /2 entries from dpkg; packs: us-commerce-2024-kaspersky v1; evaluated at 2024-10-01: 1 forbidden, 0 upcoming/,
    );
  });

  it("before the first date the finding is upcoming and the exit code 0", async () => {
    const r = await vigil("--root", machine, "--date", "2024-07-01");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^UPCOMING {3}dpkg kesl/m);
    expect(r.out).toMatch(/from 2024-07-20: sale, install/);
  });

  it("json: the report document, with --reg and --scan", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "vigil-inv-out-")), "r.json");
    const r = await vigil(
      "--root",
      machine,
      "--reg",
      join(machine, "exports/uninstall.reg"),
      "--scan",
      join(machine, "mnt"),
      "--scan",
      join(machine, "opt"),
      "--format",
      "json",
      "-o",
      out,
      "--date",
      "2025-01-01",
    );
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    const rep = JSON.parse(readFileSync(out, "utf8")) as InventoryReport;
    expect(rep.schema).toBe("vigil-inventory-report/1");
    expect(rep.sources).toEqual(["dpkg", "windows-registry"]);
    expect(rep.entries.find((e) => e.name === "kesl")).toMatchObject({ fileCount: 1, source: "dpkg" });
    expect(rep.entries[0]).not.toHaveProperty("files");
    expect(rep.packs[0]).toMatchObject({ id: "us-commerce-2024-kaspersky", signedBy: ["vigil-policy-packs"] });
    expect(rep.scan).toMatchObject({ examined: 2, executables: 2 });
    const what = rep.findings.map((f) =>
      f.file ? f.file.path.slice(machine.length) : `${rep.entries[f.entry!]!.source}:${rep.entries[f.entry!]!.name}`,
    );
    expect(what).toEqual([
      "dpkg:kesl",
      "windows-registry:Kaspersky Endpoint Security for Windows",
      "/mnt/c/Program Files/KES/avp.exe",
      "/opt/kaspersky/kesl/bin/kesl",
    ]);
    expect(rep.summary).toEqual({ entries: 3, forbidden: 4, upcoming: 0 });
  });

  it("sarif: one rule for the pack's vendor, error results with locations", async () => {
    const r = await vigil(
      "--root",
      machine,
      "--scan",
      join(machine, "mnt"),
      "--format",
      "sarif",
      "--date",
      "2025-01-01",
    );
    expect(r.code).toBe(1);
    const s = JSON.parse(r.out);
    expect(s.version).toBe("2.1.0");
    expect(s.runs[0].tool.driver.rules.map((x: { id: string }) => x.id)).toEqual([
      "us-commerce-2024-kaspersky/kaspersky",
    ]);
    expect(s.runs[0].results.map((x: { level: string }) => x.level)).toEqual(["error", "error"]);
    expect(s.runs[0].results[1].locations[0].physicalLocation.artifactLocation.uri).toBe(
      `file://${encodeURI(join(machine, "mnt/c/Program Files/KES/avp.exe"))}`,
    );
  });

  it("a clean machine exits 0; --all lists entries", async () => {
    const r = await vigil("--root", clean, "--all");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^dpkg\s+bash 5\.2 {2}\[Matthias Klose\]$/m);
    expect(r.out).toMatch(/0 forbidden, 0 upcoming/);
  });

  it("errors exit 2 with a message that says what to do", async () => {
    expect(await vigil("--root", "/nonexistent/x")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/cannot read the root directory/),
    });
    expect(await vigil("--root", clean, "--date", "yesterday")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--date yesterday: give a date/),
    });
    expect(await vigil("--root", clean, "--source", "winget")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/unknown source/),
    });
    expect(await vigil("--root", clean, "--format", "xml")).toMatchObject({ code: 2 });
    const bad = join(tree({ "p.json": "{}" }), "p.json");
    expect(await vigil("--root", clean, "--pack", bad)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/p\.json\.format: must be/),
    });
  });
});

describe("vigil inventory pack", () => {
  it("keygen, sign, verify, then use an organisation pack; tampering is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-inv-pack-"));
    expect((await vigil("pack", "keygen", "org-sec", "-o", dir)).code).toBe(0);
    expect(await vigil("pack", "keygen", "org-sec", "-o", dir)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/will not overwrite/),
    });
    const pack = JSON.parse(readFileSync(join(dirname(builtinPackPaths()[0]!), "template.json"), "utf8"));
    pack.vendors[0].packages.push({ name: "bash", sources: ["dpkg"] });
    const doc = tree({ "docs/tool-installer.txt": "a plain file a pack lists by hash", "docs/other.txt": "x" });
    pack.vendors[0].hashes = [
      { sha256: createHash("sha256").update("a plain file a pack lists by hash").digest("hex"), note: "installer" },
    ];
    const file = join(dir, "org.json");
    writeFileSync(file, JSON.stringify(pack));
    // unsigned: refused
    expect(await vigil("--root", clean, "--pack", file)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/not signed/),
    });
    expect((await vigil("pack", "sign", "--key", join(dir, "org-sec.key"), file)).code).toBe(0);
    // signed by a key nobody trusts yet
    expect(await vigil("pack", "verify", file)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/not trusted; add its public key with --trust-key/),
    });
    expect(await vigil("pack", "verify", "--trust-key", join(dir, "org-sec.pub.json"), file)).toMatchObject({
      code: 0,
      out: expect.stringMatching(/example-org-vendor-policy v1: OK, signed by org-sec/),
    });
    const use = await vigil(
      "--root",
      clean,
      "--no-builtin-packs",
      "--pack",
      file,
      "--trust-key",
      join(dir, "org-sec.pub.json"),
      "--date",
      "2026-03-01",
    );
    expect(use.code).toBe(1);
    expect(use.out).toMatch(/^FORBIDDEN {2}dpkg bash 5\.2 \(Matthias Klose\)$/m);
    expect(use.out).toMatch(/from 2026-06-30: use, updates, network-service/);
    const byHash = await vigil(
      "--root",
      clean,
      "--no-builtin-packs",
      "--pack",
      file,
      "--trust-key",
      join(dir, "org-sec.pub.json"),
      "--scan",
      join(doc, "docs"),
      "--format",
      "json",
    );
    const rep = JSON.parse(byHash.out) as InventoryReport;
    expect(
      rep.findings.filter((f) => f.file).map((f) => [f.file!.path.slice(doc.length), f.evidence[0]!.kind]),
    ).toEqual([["/docs/tool-installer.txt", "hash"]]);
    expect(rep.scan?.examined).toBe(2);
    const signed = JSON.parse(readFileSync(file, "utf8"));
    signed.prohibitions[0].effective = "2030-01-01";
    writeFileSync(file, JSON.stringify(signed));
    expect(await vigil("--root", clean, "--pack", file, "--trust-key", join(dir, "org-sec.pub.json"))).toMatchObject({
      code: 2,
      err: expect.stringMatching(/changed after signing/),
    });
  });
});
