/**
 * PE fixtures for the pe and dotnet tests: real Windows binaries from Debian packages (listed
 * in .ci/apt-packages.txt) and helpers that adapt our module data to the layout Debian's
 * yara 4.2.3 prints, where 4.2.3 differs from YARA 4.5 by a known bug.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { haveDebianFile, hidden, needs } from "@vigil/test-kit";

export interface FixtureGroup {
  readonly pkg: string;
  /** the folder (or a file) the package installs, for the skip message */
  readonly dir: string;
  readonly files: string[];
}

function list(dir: string, re: RegExp, max = 1000): string[] {
  if (!haveDebianFile(dir)) return [];
  return readdirSync(dir)
    .filter((f) => re.test(f))
    .sort()
    .slice(0, max)
    .map((f) => join(dir, f));
}

/** PE files by Debian package; an empty list means the package is not installed. */
export function peFixtures(): FixtureGroup[] {
  const groups: FixtureGroup[] = [
    {
      pkg: "clamav-testfiles",
      dir: "/usr/share/clamav-testfiles",
      files: list("/usr/share/clamav-testfiles", /\.exe$/),
    },
    {
      pkg: "shim-helpers-amd64-signed",
      dir: "/usr/lib/shim",
      files: list("/usr/lib/shim", /^(fb|mm)x64\.efi(\.signed)?$/),
    },
    {
      pkg: "shim-signed",
      dir: "/usr/lib/shim/shimx64.efi.signed",
      files: list("/usr/lib/shim", /^shimx64\.efi(\.signed)?$/),
    },
    {
      pkg: "grub-efi-amd64-signed",
      dir: "/usr/lib/grub/x86_64-efi-signed",
      files: list("/usr/lib/grub/x86_64-efi-signed", /\.efi\.signed$/),
    },
    {
      pkg: "libmono-system4.0-cil",
      dir: "/usr/lib/mono",
      files: [
        "/usr/lib/mono/4.5/mscorlib.dll",
        "/usr/lib/mono/4.5/System.dll",
        "/usr/lib/mono/4.5/System.Core.dll",
        "/usr/lib/mono/4.5/Mono.Security.dll",
      ].filter((f) => haveDebianFile(f)),
    },
    {
      pkg: "nsis-common",
      dir: "/usr/share/nsis",
      files: [
        ...list("/usr/share/nsis/Plugins/x86-ansi", /\.dll$/),
        ...list("/usr/share/nsis/Plugins/amd64-unicode", /\.dll$/),
        ...list("/usr/share/nsis/Contrib/UIs", /\.exe$/),
        ...list("/usr/share/nsis/Stubs", /.*/, 6),
      ],
    },
    { pkg: "gpgv-win32", dir: "/usr/share/win32", files: list("/usr/share/win32", /\.exe$/) },
  ];
  return groups.map((g) => (hidden(g.pkg) ? { ...g, files: [] } : g));
}

export function allPeFiles(): string[] {
  return peFixtures().flatMap((g) => g.files);
}

export function reportMissing(groups: FixtureGroup[]): void {
  for (const g of groups) {
    if (g.files.length === 0) needs(`the ${g.pkg} fixtures`, { debianFiles: [g.dir] });
  }
}

type Obj = Record<string, unknown>;

/**
 * yara 4.2.3 numbers the functions of import_details (and delayed_import_details) with one
 * counter across all DLLs and sets number_of_functions to that running total; YARA 4.5
 * numbers them per DLL. This rewrites our (4.5) layout into 4.2.3's so the dumps compare.
 */
export function toYara423Imports(root: Obj): Obj {
  // keep the prototype: the module's constants live there
  const out: Obj = Object.assign(Object.create(Object.getPrototypeOf(root)), root);
  // 4.2.3 leaves an export's offset at -1 when its RVA maps nowhere; 4.5 makes it undefined.
  if (Array.isArray(root.export_details)) {
    out.export_details = (root.export_details as Obj[]).map((e) =>
      e.offset === undefined && e.forward_name === undefined ? { ...e, offset: -1 } : e,
    );
  }
  for (const key of ["import_details", "delayed_import_details"]) {
    const list = root[key] as Obj[] | undefined;
    if (!Array.isArray(list)) continue;
    let running = 0;
    out[key] = list.map((dll) => {
      const fns = (dll.functions as Obj[]) ?? [];
      const spread: Obj[] = [];
      fns.forEach((f, i) => {
        spread[running + i] = f;
      });
      running += fns.length;
      return { ...dll, functions: spread, number_of_functions: running };
    });
  }
  return out;
}

/**
 * yara 4.2.3 stores .NET string constants and assembly-reference public key tokens one byte
 * short (b77a5c561934e089 becomes b77a5c561934e0); YARA 4.5, which we follow, keeps the whole
 * blob. This drops that byte from our dotnet data so it compares with 4.2.3's.
 */
export function toYara423Dotnet(root: Obj): Obj {
  const out = { ...root };
  if (Array.isArray(root.constants)) out.constants = (root.constants as string[]).map((s) => s.slice(0, -1));
  if (Array.isArray(root.assembly_refs)) {
    out.assembly_refs = (root.assembly_refs as Obj[]).map((r) => ({
      ...r,
      public_key_or_token:
        typeof r.public_key_or_token === "string" ? r.public_key_or_token.slice(0, -1) : r.public_key_or_token,
    }));
  }
  return out;
}
