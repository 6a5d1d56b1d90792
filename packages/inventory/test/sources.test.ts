import { afterAll, describe, expect, it } from "vitest";
import {
  apkSource,
  collect,
  dpkgSource,
  flatpakSource,
  kernelModuleSource,
  macosSource,
  npmSource,
  parsePlist,
  parseReg,
  pythonSource,
  registrySource,
  snapSource,
  systemdSource,
  decodeRegText,
  InventoryError,
} from "@vigil/inventory";
import { bplist, dpkgStanza, hex2, makeTree, regExport, UNINSTALL, UNINSTALL32 } from "@vigil/test-kit";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const cleanups: Array<() => void> = [];
afterAll(() => cleanups.forEach((c) => c()));
function tree(spec: Parameters<typeof makeTree>[0]): string {
  const t = makeTree(spec);
  cleanups.push(t.cleanup);
  return t.root;
}

describe("dpkg", () => {
  const root = tree({
    "var/lib/dpkg/status": [
      dpkgStanza({ name: "kesl", version: "12.1.0.1297", maintainer: "AO Kaspersky Lab <support@kaspersky.com>" }),
      dpkgStanza({
        name: "oldpkg",
        version: "1.0",
        maintainer: "X <x@example.org>",
        status: "deinstall ok config-files",
      }),
      dpkgStanza({ name: "libfoo1", version: "2.3-1", maintainer: "Debian Foo Team <foo@debian.org>", arch: "i386" }),
      dpkgStanza({ name: "half", version: "0.1", maintainer: "Y", status: "install reinstreq half-installed" }),
    ].join("\n"),
    "var/lib/dpkg/info/kesl.list":
      "/.\n/opt\n/opt/kaspersky\n/opt/kaspersky/kesl\n/opt/kaspersky/kesl/bin/kesl-control\n/etc/init.d/kesl\n",
    "var/lib/dpkg/info/libfoo1:i386.list": "/.\n/usr/lib/i386-linux-gnu/libfoo.so.1\n",
  });

  it("lists installed packages with version, maintainer, files and install dir; skips config-files leftovers", async () => {
    const { entries } = await dpkgSource({ root });
    expect(entries.map((e) => e.name)).toEqual(["kesl", "libfoo1", "half"]);
    const kesl = entries[0]!;
    expect(kesl).toMatchObject({
      version: "12.1.0.1297",
      vendor: "AO Kaspersky Lab",
      installPath: "/opt/kaspersky",
      source: "dpkg",
    });
    expect(kesl.files).toContain("/opt/kaspersky/kesl/bin/kesl-control");
    expect(kesl.extra?.description).toBe("the kesl package");
    expect(entries[1]!.files).toEqual(["/.", "/usr/lib/i386-linux-gnu/libfoo.so.1"]);
    expect(entries[1]!.extra?.architecture).toBe("i386");
    expect(entries[2]!.extra?.status).toBe("half-installed");
  });

  it("survives a truncated status file and binary garbage", async () => {
    const r1 = tree({
      "var/lib/dpkg/status":
        dpkgStanza({ name: "a", version: "1", maintainer: "M" }) + "Package: b\nStatus: install ok inst",
    });
    const { entries } = await dpkgSource({ root: r1 });
    expect(entries.map((e) => e.name)).toEqual(["a"]);
    const r2 = tree({ "var/lib/dpkg/status": Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)) });
    expect((await dpkgSource({ root: r2 })).entries.length).toBe(0);
  });

  it("reads this machine's real dpkg database", async () => {
    const { entries } = await dpkgSource({ root: "/" });
    const coreutils = entries.find((e) => e.name === "coreutils");
    expect(coreutils?.version).toMatch(/^\d/);
    expect(coreutils?.files).toContain("/bin/ls");
    expect(entries.length).toBeGreaterThan(100);
  });
});

describe("apk", () => {
  it("reads /lib/apk/db/installed with files", async () => {
    const root = tree({
      "lib/apk/db/installed":
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nT:the musl c library\nm:Natanael Copa <ncopa@alpinelinux.org>\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:busybox\nV:1.36.1-r5\nF:bin\nR:busybox\n",
    });
    const { entries } = await apkSource({ root });
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({ name: "musl", version: "1.2.4-r2", vendor: "Natanael Copa", source: "apk" });
    expect(entries[0]!.files).toEqual(["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"]);
    expect(entries[1]!.installPath).toBe("/bin");
  });
});

describe("snap, flatpak, python, npm", () => {
  const root = tree({
    "snap/firefox/current": { link: "4173" },
    "snap/firefox/4173/meta/snap.yaml":
      "name: firefox\nversion: '125.0.2-1'\nsummary: Mozilla Firefox web browser\napps:\n  firefox:\n    command: firefox.launcher\n",
    "snap/core22/1380/meta/snap.yaml": "name: core22\nversion: 20240408\n",
    "snap/core22/1122/meta/snap.yaml": "name: core22\nversion: 20230801\n",
    "var/lib/flatpak/app/org.gimp.GIMP/current": { link: "x86_64/stable" },
    "var/lib/flatpak/app/org.gimp.GIMP/x86_64/stable/active/metadata":
      "[Application]\nname=org.gimp.GIMP\nruntime=org.gnome.Platform/x86_64/45\n",
    "var/lib/flatpak/app/org.gimp.GIMP/x86_64/stable/active/files/share/metainfo/org.gimp.GIMP.metainfo.xml":
      '<?xml version="1.0"?><component><id>org.gimp.GIMP</id><name>GNU Image Manipulation Program</name><developer_name>The GIMP Team &amp; friends</developer_name><releases><release version="2.10.38" date="2024-05-02"/><release version="2.10.36"/></releases></component>',
    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA":
      "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: Python HTTP for Humans.\nAuthor: Kenneth Reitz\nAuthor-email: me@kennethreitz.org\n\nName: not-a-header\n",
    "usr/local/lib/python3.11/dist-packages/flit-3.9.dist-info/METADATA":
      "Name: flit\nVersion: 3.9.0\nAuthor-email: Thomas Kluyver <thomas@kluyver.me.uk>\n",
    "usr/local/lib/python3.11/dist-packages/old.egg-info/PKG-INFO": "Name: oldstyle\nVersion: 0.1\nAuthor: Someone\n",
    "usr/local/lib/node_modules/typescript/package.json": JSON.stringify({
      name: "typescript",
      version: "5.4.5",
      author: "Microsoft Corp.",
    }),
    "usr/local/lib/node_modules/@scope/tool/package.json": JSON.stringify({
      name: "@scope/tool",
      version: "1.0.0",
      author: { name: "Scope Inc" },
    }),
    "usr/local/lib/node_modules/broken/package.json": "{ not json",
  });

  it("snap: current revision, else the highest", async () => {
    const { entries } = await snapSource({ root });
    expect(entries.map((e) => [e.name, e.version, e.installPath])).toEqual([
      ["core22", "20240408", "/snap/core22/1380"],
      ["firefox", "125.0.2-1", "/snap/firefox/4173"],
    ]);
  });

  it("flatpak: metadata and metainfo", async () => {
    const { entries } = await flatpakSource({ root });
    expect(entries).toEqual([
      expect.objectContaining({
        name: "org.gimp.GIMP",
        version: "2.10.38",
        vendor: "The GIMP Team & friends",
        source: "flatpak",
      }),
    ]);
    expect(entries[0]!.extra?.runtime).toBe("org.gnome.Platform/x86_64/45");
  });

  it("python: dist-info and egg-info headers only", async () => {
    const { entries } = await pythonSource({ root });
    expect(entries.map((e) => [e.name, e.version, e.vendor])).toEqual([
      ["requests", "2.31.0", "Kenneth Reitz"],
      ["flit", "3.9.0", "Thomas Kluyver"],
      ["oldstyle", "0.1", "Someone"],
    ]);
  });

  it("npm: global packages with scopes; bad JSON is a problem, not a crash", async () => {
    const { entries, problems } = await npmSource({ root });
    expect(entries.map((e) => [e.name, e.version, e.vendor])).toEqual([
      ["@scope/tool", "1.0.0", "Scope Inc"],
      ["typescript", "5.4.5", "Microsoft Corp."],
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toMatch(/broken\/package\.json$/);
  });
});

describe("systemd and kernel modules", () => {
  it("systemd: /etc overrides /lib, masked units marked", async () => {
    const root = tree({
      "lib/systemd/system/kesl.service":
        "[Unit]\nDescription=Kaspersky Endpoint Security for Linux\n[Service]\nExecStart=/opt/kaspersky/kesl/libexec/kesl --daemon\n",
      "etc/systemd/system/ssh.service": "[Unit]\nDescription=Local SSH\n[Service]\nExecStart=-/usr/sbin/sshd -D\n",
      "lib/systemd/system/ssh.service": "[Unit]\nDescription=OpenBSD Secure Shell server\n",
      "etc/systemd/system/bad.service": { link: "/dev/null" },
      "lib/systemd/system/x.timer": "[Timer]\n",
    });
    const { entries } = await systemdSource({ root });
    expect(entries.map((e) => e.name)).toEqual(["ssh.service", "kesl.service"]);
    expect(entries[0]!.extra).toMatchObject({ description: "Local SSH", execStart: "/usr/sbin/sshd -D" });
    expect(entries[1]!.installPath).toBe("/lib/systemd/system/kesl.service");
  });

  it("kernel modules: loaded ones and out-of-tree installs with paths, versions and taint", async () => {
    const root = tree({
      "proc/modules": "klif 1234 0 - Live 0x0000000000000000 (OE)\next4 1000000 1 - Live 0x0000000000000000\n",
      "proc/sys/kernel/osrelease": "6.1.0-18-amd64\n",
      "lib/modules/6.1.0-18-amd64/modules.dep":
        "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz\nupdates/dkms/klif.ko:\nextra/vbox-drv.ko:\nkernel/net/foo.ko:\n",
      "sys/module/klif/version": "11.1.0\n",
    });
    const { entries } = await kernelModuleSource({ root });
    expect(entries.map((e) => [e.name, e.version, e.installPath, e.extra?.loaded])).toEqual([
      ["ext4", undefined, "/lib/modules/6.1.0-18-amd64/kernel/fs/ext4/ext4.ko.xz", "yes"],
      ["klif", "11.1.0", "/lib/modules/6.1.0-18-amd64/updates/dkms/klif.ko", "yes"],
      ["vbox_drv", undefined, "/lib/modules/6.1.0-18-amd64/extra/vbox-drv.ko", "no"],
    ]);
    expect(entries[1]!.extra?.taint).toBe("OE");
  });
});

describe("Windows registry exports", () => {
  const keys = [
    {
      path: `${UNINSTALL}\\{2F3ED4D1-0000-4A4B-9A6B-000000000001}`,
      values: [
        '"DisplayName"="Kaspersky Endpoint Security for Windows"',
        '"DisplayVersion"="12.3.0.493"',
        '"Publisher"="AO Kaspersky Lab"',
        '"InstallLocation"="C:\\\\Program Files (x86)\\\\Kaspersky Lab\\\\KES.12.3.0\\\\"',
        '"SystemComponent"=dword:00000000',
        `"UninstallString"=${hex2("MsiExec.exe /X{2F3ED4D1-0000-4A4B-9A6B-000000000001}")}`,
      ],
    },
    {
      path: `${UNINSTALL32}\\7-Zip`,
      values: [
        '"DisplayName"="7-Zip 23.01 (x64)"',
        '"DisplayVersion"="23.01"',
        '"Publisher"="Igor Pavlov"',
        '@="default"',
      ],
    },
    { path: `${UNINSTALL}\\NoName`, values: ['"DisplayVersion"="1"'] },
    { path: `${UNINSTALL}\\Sub\\Deeper`, values: ['"DisplayName"="not an uninstall entry"'] },
    {
      path: `HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Zoom`,
      values: ['"DisplayName"="Zoom \\"Workplace\\""', '"Publisher"="Zoom Video Communications, Inc."'],
    },
  ];

  for (const enc of ["utf16le", "utf8"] as const) {
    it(`reads Uninstall keys from a ${enc} export`, async () => {
      const root = tree({ "uninstall.reg": regExport(keys, enc) });
      const { entries, problems } = await registrySource([join(root, "uninstall.reg")]);
      expect(problems).toEqual([]);
      expect(entries.map((e) => [e.name, e.version, e.vendor])).toEqual([
        ["Kaspersky Endpoint Security for Windows", "12.3.0.493", "AO Kaspersky Lab"],
        ["7-Zip 23.01 (x64)", "23.01", "Igor Pavlov"],
        ['Zoom "Workplace"', undefined, "Zoom Video Communications, Inc."],
      ]);
      expect(entries[0]!.installPath).toBe("C:\\Program Files (x86)\\Kaspersky Lab\\KES.12.3.0\\");
      expect(entries[0]!.extra?.uninstallString).toBe("MsiExec.exe /X{2F3ED4D1-0000-4A4B-9A6B-000000000001}");
      expect(entries[1]!.extra?.view).toBe("32-bit");
    });
  }

  it("decodes UTF-16LE without a BOM and non-ASCII names", () => {
    const text = `Windows Registry Editor Version 5.00\r\n\r\n[${UNINSTALL}\\x]\r\n"DisplayName"="Лаборатория Касперского"\r\n"Publisher"="АО «Лаборатория Касперского»"\r\n`;
    const keys = parseReg(decodeRegText(Buffer.from(text, "utf16le")));
    expect(keys[0]!.values.get("Publisher")).toBe("АО «Лаборатория Касперского»");
  });

  it("long hex values over many continuation lines are joined in linear time", () => {
    const n = 200_000;
    const text = `Windows Registry Editor Version 5.00\r\n\r\n[${UNINSTALL}\\big]\r\n"DisplayName"="Big"\r\n"Blob"=hex:${"00,".repeat(n).split(",").slice(0, n).join(",\\\r\n  ")}\r\n"Publisher"="P"\r\n`;
    const t0 = Date.now();
    const keys = parseReg(text);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((keys[0]!.values.get("Blob") as Uint8Array).length).toBe(n);
    expect(keys[0]!.values.get("Publisher")).toBe("P");
  });

  it("rejects non-registry files and skips malformed lines", async () => {
    const root = tree({
      "junk.reg": Buffer.from([0xff, 0xfe, 0x41]),
      "bad.reg": `Windows Registry Editor Version 5.00\n[${UNINSTALL}\\a]\n[${UNINSTALL}\\broken\n"DisplayName"="lost"\n[${UNINSTALL}\\a]\n"DisplayName"=hex(2):zz,00\n"DisplayName"="ok"\n"Publisher"=dword:xyz\n[${UNINSTALL}\\b]\n"DisplayName"="unterminated\n"DisplayName"="B"\n`,
    });
    const r = await registrySource([join(root, "junk.reg"), join(root, "bad.reg"), join(root, "missing.reg")]);
    expect(r.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/not a registry export/),
      expect.stringMatching(/no such file/),
    ]);
    expect(r.entries.map((e) => e.name)).toEqual(["ok", "B"]);
  });
});

describe("macOS bundles", () => {
  const xml = (name: string, version: string, id: string, copyright: string) => `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleName</key><string>${name}</string>
  <key>CFBundleShortVersionString</key><string>${version}</string>
  <key>CFBundleIdentifier</key><string>${id}</string>
  <key>CFBundleExecutable</key><string>${name}</string>
  <key>LSRequiresNativeExecution</key><true/>
  <key>CFBundleDocumentTypes</key><array><dict><key>x</key><integer>3</integer></dict></array>
  <key>NSHumanReadableCopyright</key><string>${copyright}</string>
</dict>
</plist>`;

  it("reads XML and binary Info.plist", async () => {
    const root = tree({
      "Applications/Kaspersky Internet Security.app/Contents/Info.plist": xml(
        "Kaspersky Internet Security",
        "21.0.12",
        "com.kaspersky.kav",
        "© 2023 AO Kaspersky Lab. All rights reserved.",
      ),
      "Applications/Utilities/Tool.app/Contents/Info.plist": bplist({
        CFBundleName: "Tool",
        CFBundleVersion: "3.1",
        CFBundleIdentifier: "org.example.tool",
        NSHumanReadableCopyright: "Copyright 2010-2024 Exämple Ltd",
      }),
      "Applications/Broken.app/Contents/Info.plist": "<plist><dict><key>a</key>",
    });
    const { entries, problems } = await macosSource({ root });
    expect(entries.map((e) => [e.name, e.version, e.vendor, e.extra?.identifier])).toEqual([
      ["Kaspersky Internet Security", "21.0.12", "AO Kaspersky Lab", "com.kaspersky.kav"],
      ["Tool", "3.1", "Exämple Ltd", "org.example.tool"],
    ]);
    expect(problems).toHaveLength(1);
  });

  it("plist parser returns undefined on hostile input", () => {
    const b = bplist({ a: "b" });
    for (let cut = 0; cut < b.length; cut += 3) expect(() => parsePlist(b.subarray(0, cut))).not.toThrow();
    expect(parsePlist(b.subarray(0, b.length - 1))).toBeUndefined();
    // an array that contains itself
    const cyc = Buffer.concat([Buffer.from("bplist00"), Buffer.from([0xa1, 0x00]), Buffer.from([8]), Buffer.alloc(32)]);
    cyc[11 + 6] = 1;
    cyc[11 + 7] = 1;
    cyc.writeBigUInt64BE(1n, 11 + 8);
    cyc.writeBigUInt64BE(10n, 11 + 24);
    expect(parsePlist(cyc)).toBeUndefined();
    expect(parsePlist(Buffer.from("<plist>" + "<array>".repeat(10000)))).toBeUndefined();
    // unterminated constructs are linear, not quadratic (8 MB each)
    for (const unit of ["<!--", "<a", "<?x", "<![CDATA[", "<!D"]) {
      const t0 = Date.now();
      expect(parsePlist(Buffer.from(unit.repeat((8 << 20) / unit.length)))).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(3000);
    }
    expect(
      parsePlist(
        Buffer.from(
          '<?xml version="1.0"?><!-- c --><plist><dict><key>a&amp;b</key><string><![CDATA[x<y]]></string></dict></plist>',
        ),
      ),
    ).toEqual({ "a&b": "x<y" });
  });
});

describe("collect", () => {
  it("gathers every source present and says which", async () => {
    const root = tree({
      "var/lib/dpkg/status": dpkgStanza({
        name: "bash",
        version: "5.2",
        maintainer: "Matthias Klose <doko@debian.org>",
      }),
      "lib/systemd/system/a.service": "[Unit]\nDescription=A\n",
      "x.reg": regExport([{ path: `${UNINSTALL}\\k`, values: ['"DisplayName"="K"'] }]),
    });
    const inv = await collect({ root, regFiles: [join(root, "x.reg")] });
    expect(inv.sources).toEqual(["dpkg", "systemd", "windows-registry"]);
    expect(inv.entries.map((e) => `${e.source}:${e.name}`)).toEqual([
      "dpkg:bash",
      "systemd:a.service",
      "windows-registry:K",
    ]);
  });

  it("a missing root is a BAD_ROOT error", async () => {
    await expect(collect({ root: "/nonexistent/vigil" })).rejects.toMatchObject({ code: "BAD_ROOT" });
    const root = tree({ f: "x" });
    writeFileSync(join(root, "g"), "y");
    await expect(collect({ root: join(root, "g") })).rejects.toBeInstanceOf(InventoryError);
  });
});
