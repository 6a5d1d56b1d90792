import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  builtinKeys,
  builtinPackPaths,
  collect,
  containsWords,
  evaluate,
  generatePackKey,
  loadPack,
  parsePack,
  parsePublicKey,
  PACKS_DIR,
  scanExecutables,
  signPack,
  subjectNames,
  type LoadedPack,
  type PolicyPack,
} from "@vigil/inventory";
import { buildPe, dpkgStanza, makeTree, needs, regExport, UNINSTALL } from "@vigil/test-kit";

const cleanups: Array<() => void> = [];
afterAll(() => cleanups.forEach((c) => c()));
function tree(spec: Parameters<typeof makeTree>[0]): string {
  const t = makeTree(spec);
  cleanups.push(t.cleanup);
  return t.root;
}

const kaspersky: LoadedPack[] = builtinPackPaths().map((p) => loadPack(p, builtinKeys()));
const elf = readFileSync("/bin/true");

/** An organisation pack signed with a fresh key, from the template with the given vendor fields. */
function orgPack(vendor: Partial<PolicyPack["vendors"][number]>): LoadedPack {
  const t = JSON.parse(readFileSync(`${PACKS_DIR}template.json`, "utf8")) as PolicyPack;
  t.vendors = [{ id: "v", name: "Some Vendor", ...vendor }];
  const k = generatePackKey("org");
  return parsePack(JSON.stringify(signPack(t, k.privatePem)), "org.json", [parsePublicKey(k.publicFile)]);
}

describe("names", () => {
  it("word-sequence matching ignores case, punctuation and accents but not partial words", () => {
    expect(containsWords("AO Kaspersky Lab", "kaspersky lab")).toBe(true);
    expect(containsWords("Kaspersky Lab, Inc.", "Kaspersky Lab Inc")).toBe(true);
    expect(containsWords("АО «Лаборатория Касперского»", "АО Лаборатория Касперского")).toBe(true);
    expect(containsWords("Kasper Skov", "Kaspersky")).toBe(false);
    expect(containsWords("Kasperskyfan", "Kaspersky")).toBe(false);
    expect(containsWords("Société Générale", "societe generale")).toBe(true);
  });
  it("certificate subject names", () => {
    expect(subjectNames("/C=RU/L=Moscow/O=AO Kaspersky Lab/CN=AO Kaspersky Lab")).toEqual([
      "AO Kaspersky Lab",
      "AO Kaspersky Lab",
    ]);
    expect(subjectNames("/C=US/O=A/B Corp/CN=x")).toEqual(["A/B Corp", "x"]);
  });
});

describe("inventory entries against the Kaspersky pack", () => {
  const root = tree({
    "var/lib/dpkg/status": [
      dpkgStanza({ name: "kesl", version: "12.1.0.1297", maintainer: "AO Kaspersky Lab <support@kaspersky.com>" }),
      dpkgStanza({ name: "bash", version: "5.2.15-2", maintainer: "Matthias Klose <doko@debian.org>" }),
      dpkgStanza({ name: "klnagent64", version: "15.0.0", maintainer: "Someone Else" }),
    ].join("\n"),
    "var/lib/dpkg/info/kesl.list": "/opt/kaspersky/kesl/bin/kesl-control\n/opt/kaspersky/kesl/share/readme.txt\n",
    "opt/kaspersky/kesl/bin/kesl-control": elf,
    "opt/kaspersky/kesl/share/readme.txt": "Kaspersky Endpoint Security for Linux\n",
    "usr/lib/python3/dist-packages/skov-1.0.dist-info/METADATA": "Name: skov\nVersion: 1.0\nAuthor: Kasper Skov\n",
    "lib/systemd/system/kesl.service": "[Unit]\nDescription=Kaspersky Endpoint Security for Linux\n",
    "Applications/Kaspersky Internet Security.app/Contents/Info.plist":
      "<plist><dict><key>CFBundleIdentifier</key><string>com.kaspersky.kis</string><key>CFBundleShortVersionString</key><string>21.0</string></dict></plist>",
    "uninstall.reg": regExport([
      {
        path: `${UNINSTALL}\\{KES}`,
        values: [
          '"DisplayName"="Kaspersky Endpoint Security for Windows"',
          '"Publisher"="AO Kaspersky Lab"',
          '"DisplayVersion"="12.3"',
        ],
      },
      { path: `${UNINSTALL}\\7-Zip`, values: ['"DisplayName"="7-Zip"', '"Publisher"="Igor Pavlov"'] },
    ]),
  });

  it("finds each installation with its evidence, forbidden after 2024-07-20", async () => {
    const inv = await collect({ root, regFiles: [join(root, "uninstall.reg")] });
    const findings = evaluate(inv.entries, [], kaspersky, new Date("2024-08-01T12:00:00Z"));
    const by = Object.fromEntries(
      findings.map((f) => [
        f.subject.kind === "entry" ? `${f.subject.entry.source}:${f.subject.entry.name}` : f.subject.file.path,
        f,
      ]),
    );
    expect(Object.keys(by).sort()).toEqual([
      "dpkg:kesl",
      "dpkg:klnagent64",
      "macos-app:Kaspersky Internet Security",
      "systemd:kesl.service",
      "windows-registry:Kaspersky Endpoint Security for Windows",
    ]);
    expect(by["dpkg:kesl"]!.evidence.map((e) => e.kind)).toEqual(["package", "publisher"]);
    expect(
      by["windows-registry:Kaspersky Endpoint Security for Windows"]!.evidence.map((e) => `${e.kind}=${e.matched}`),
    ).toEqual(["package=Kaspersky *", "publisher=AO Kaspersky Lab", "product-name=Kaspersky"]);
    expect(by["macos-app:Kaspersky Internet Security"]!.evidence.map((e) => `${e.kind}=${e.found}`)).toEqual([
      "package=Kaspersky Internet Security",
      "package=com.kaspersky.kis",
      "product-name=Kaspersky Internet Security",
    ]);
    for (const f of findings) {
      expect(f.status).toBe("forbidden");
      expect(f.forbids).toEqual(["sale", "install"]);
      expect(f.upcoming.map((p) => p.effective)).toEqual(["2024-09-29"]);
    }
  });

  it("dates decide: upcoming before 2024-07-20, everything after 2024-09-29", async () => {
    const inv = await collect({ root, sources: ["dpkg"] });
    const before = evaluate(inv.entries, [], kaspersky, new Date("2024-07-19T23:59:59Z"));
    expect(before.map((f) => f.status)).toEqual(["upcoming", "upcoming"]);
    expect(before[0]!.forbids).toEqual([]);
    const at = evaluate(inv.entries, [], kaspersky, new Date("2024-07-20T00:00:00Z"));
    expect(at[0]!.status).toBe("forbidden");
    const after = evaluate(inv.entries, [], kaspersky, new Date("2024-09-29T00:00:00Z"));
    expect(after[0]!.forbids).toEqual(["sale", "install", "updates", "network-service"]);
    expect(after[0]!.upcoming).toEqual([]);
  });

  it("installed or updated after a ban: dpkg .list times and registry InstallDate", async () => {
    const r = tree({
      "var/lib/dpkg/status": [
        dpkgStanza({ name: "kesl", version: "12.1", maintainer: "AO Kaspersky Lab" }),
        dpkgStanza({ name: "klnagent64", version: "15", maintainer: "AO Kaspersky Lab" }),
        dpkgStanza({ name: "kesl-gui", version: "12.1", maintainer: "AO Kaspersky Lab" }),
      ].join("\n"),
      "var/lib/dpkg/info/kesl.list": "/opt/kaspersky/kesl/x\n",
      "var/lib/dpkg/info/klnagent64.list": "/opt/kaspersky/klnagent64/x\n",
      "var/lib/dpkg/info/kesl-gui.list": "/opt/kaspersky/kesl-gui/x\n",
      "u.reg": regExport([
        {
          path: `${UNINSTALL}\\a`,
          values: ['"DisplayName"="Kaspersky Small Office Security"', '"InstallDate"="20240803"'],
        },
        { path: `${UNINSTALL}\\b`, values: ['"DisplayName"="Kaspersky Free"', '"InstallDate"="20241345"'] },
      ]),
    });
    utimesSync(
      join(r, "var/lib/dpkg/info/kesl.list"),
      new Date("2024-01-10T00:00:00Z"),
      new Date("2024-01-10T00:00:00Z"),
    );
    utimesSync(
      join(r, "var/lib/dpkg/info/klnagent64.list"),
      new Date("2024-08-03T10:00:00Z"),
      new Date("2024-08-03T10:00:00Z"),
    );
    utimesSync(
      join(r, "var/lib/dpkg/info/kesl-gui.list"),
      new Date("2024-10-05T10:00:00Z"),
      new Date("2024-10-05T10:00:00Z"),
    );
    const inv = await collect({ root: r, regFiles: [join(r, "u.reg")] });
    expect(inv.entries.map((e) => [e.name, e.installedAt])).toEqual([
      ["kesl", "2024-01-10T00:00:00.000Z"],
      ["klnagent64", "2024-08-03T10:00:00.000Z"],
      ["kesl-gui", "2024-10-05T10:00:00.000Z"],
      ["Kaspersky Small Office Security", "2024-08-03T00:00:00.000Z"],
      ["Kaspersky Free", undefined],
    ]);
    const findings = evaluate(inv.entries, [], kaspersky, new Date("2024-11-01T00:00:00Z"));
    expect(findings.map((f) => f.changedAfter?.map((p) => p.effective))).toEqual([
      undefined,
      ["2024-07-20"],
      ["2024-07-20", "2024-09-29"],
      ["2024-07-20"],
      undefined,
    ]);
  });

  it("ELF files tie to their owning package; unowned files and other packages do not", async () => {
    const inv = await collect({ root, sources: ["dpkg"] });
    const scan = await scanExecutables([join(root, "opt"), join(root, "usr")], { root, entries: inv.entries });
    const ctl = scan.files.find((f) => f.path.endsWith("kesl-control"))!;
    expect(ctl).toMatchObject({
      kind: "elf",
      owner: { source: "dpkg", name: "kesl" },
      sha256: createHash("sha256").update(elf).digest("hex"),
    });
    const findings = evaluate(inv.entries, scan.files, kaspersky, new Date("2025-01-01T00:00:00Z")).filter(
      (f) => f.subject.kind === "file",
    );
    expect(
      findings.map((f) => [
        f.subject.kind === "file" && f.subject.file.path.slice(root.length),
        f.evidence.map((e) => e.kind),
      ]),
    ).toEqual([["/opt/kaspersky/kesl/bin/kesl-control", ["owner"]]]);
  });
});

describe("executables", () => {
  const root = tree({
    "win/kes/avp.exe": buildPe({
      CompanyName: "AO Kaspersky Lab",
      ProductName: "Kaspersky Endpoint Security for Windows",
      FileVersion: "12.3.0.493",
    }),
    "win/kes/ru.exe": buildPe({ CompanyName: "АО «Лаборатория Касперского»", ProductName: "Антивирус Касперского" }),
    "win/7z/7z.exe": buildPe({ CompanyName: "Igor Pavlov", ProductName: "7-Zip" }),
    "win/notes.txt": "nothing",
  });

  it.skipIf(needs("the PE builder check with Debian's yara", { tools: ["yara"] }))(
    "generated PE files are read by Debian's yara the same way (builder check)",
    () => {
      const rule = join(
        tree({
          "r.yar":
            'import "pe" rule kes { condition: pe.version_info["CompanyName"] == "AO Kaspersky Lab" and pe.number_of_resources == 1 }',
        }),
        "r.yar",
      );
      const out = execFileSync("yara", [rule, join(root, "win/kes/avp.exe")]).toString();
      expect(out.trim()).toBe(`kes ${join(root, "win/kes/avp.exe")}`);
    },
  );

  it("PE version info (UTF-16 decoded) matches publishers and aliases", async () => {
    const scan = await scanExecutables([join(root, "win")]);
    expect(scan.examined).toBe(4);
    const ru = scan.files.find((f) => f.path.endsWith("ru.exe"))!;
    expect(ru.versionInfo).toEqual({
      CompanyName: "АО «Лаборатория Касперского»",
      ProductName: "Антивирус Касперского",
    });
    const findings = evaluate([], scan.files, kaspersky, new Date("2024-10-01T00:00:00Z"));
    expect(
      findings.map((f) => [
        f.subject.kind === "file" && f.subject.file.path.slice(root.length),
        f.evidence.map((e) => `${e.kind}:${e.matched}`),
      ]),
    ).toEqual([
      ["/win/kes/avp.exe", ["pe-company:AO Kaspersky Lab"]],
      ["/win/kes/ru.exe", ["pe-company:Лаборатория Касперского"]],
    ]);
  });

  it("file hashes from a pack find a file wherever it is", async () => {
    const sha = createHash("sha256")
      .update(readFileSync(join(root, "win/7z/7z.exe")))
      .digest("hex");
    const pack = orgPack({ hashes: [{ sha256: sha.toUpperCase(), note: "banned build" }] });
    const scan = await scanExecutables([root]);
    const findings = evaluate([], scan.files, [pack], new Date("2026-03-01T00:00:00Z"));
    expect(findings).toHaveLength(1);
    // keeping only executables and listed hashes: the text file is dropped, the match stays
    const notes = createHash("sha256").update("nothing").digest("hex");
    const lean = await scanExecutables([root], { keepAll: false, keepHashes: new Set([notes]) });
    expect(lean.files.map((f) => f.path.slice(root.length)).sort()).toEqual([
      "/win/7z/7z.exe",
      "/win/kes/avp.exe",
      "/win/kes/ru.exe",
      "/win/notes.txt",
    ]);
    expect((await scanExecutables([root], { keepAll: false })).files).toHaveLength(3);
    expect(findings[0]!.evidence).toEqual([
      { kind: "hash", found: sha, matched: `${sha.toUpperCase()} (banned build)` },
    ]);
    expect(findings[0]!.forbids).toEqual(["install"]);
  });

  it.skipIf(needs("Authenticode signer subjects", { debianFiles: ["/usr/lib/shim/shimx64.efi.signed"] }))(
    "Authenticode signer subjects (real Microsoft-signed shim from Debian's shim-signed)",
    async () => {
      const dir = tree({});
      copyFileSync("/usr/lib/shim/shimx64.efi.signed", join(dir, "shim.efi"));
      const pack = orgPack({ certificateSubjects: ["Microsoft Windows UEFI Driver Publisher"] });
      const scan = await scanExecutables([dir]);
      expect(scan.files[0]!.signers?.[0]).toMatchObject({
        verified: true,
        subject: expect.stringContaining("O=Microsoft Corporation"),
      });
      const findings = evaluate([], scan.files, [pack], new Date("2026-07-01T00:00:00Z"));
      expect(findings.map((f) => f.evidence[0]!.kind)).toEqual(["certificate"]);
      expect(findings[0]!.forbids).toEqual(["install", "use", "updates", "network-service"]);
      // the Kaspersky pack does not claim it
      expect(evaluate([], scan.files, kaspersky)).toEqual([]);
    },
  );

  it("ownership on this machine, across merged /usr (dpkg lists /bin/ls, the file is also /usr/bin/ls)", async () => {
    const inv = await collect({ root: "/", sources: ["dpkg"] });
    const scan = await scanExecutables(["/usr/bin/ls", "/bin/ls"], { root: "/", entries: inv.entries });
    expect(scan.files.map((f) => [f.kind, f.owner?.name])).toEqual([
      ["elf", "coreutils"],
      ["elf", "coreutils"],
    ]);
  });

  it("truncated and corrupted PE files give no facts and no crash", async () => {
    const full = buildPe({ CompanyName: "AO Kaspersky Lab" });
    const spec: Record<string, Buffer> = {};
    for (let cut = 0; cut < full.length; cut += 61) spec[`t/${cut}.exe`] = full.subarray(0, cut);
    for (let i = 0; i < 40; i++) {
      const c = Buffer.from(full);
      for (let j = 0; j < 8; j++) c[(i * 7919 + j * 104729) % c.length] = (i * 31 + j) & 0xff;
      spec[`c/${i}.exe`] = c;
    }
    const dir = tree(spec);
    const scan = await scanExecutables([dir]);
    expect(scan.errors).toEqual([]);
    expect(scan.files.length).toBe(Object.keys(spec).length);
  });
});
