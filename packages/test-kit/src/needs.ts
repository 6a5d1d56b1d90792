/**
 * Environment checks for suites that need something outside the repository: Debian's tools
 * (yara, clamscan, clamd, ...), files of Debian fixture packages (clamav-testfiles, nsis-common,
 * ...), the public rule corpora, PostgreSQL, chromium. One rule for all of them:
 *
 *   const missing = needs("yara differential", { tools: ["yara"], corpora: ["yara/yara-rules"] });
 *   describe.skipIf(missing)("...", () => { ... });
 *
 * `needs` returns undefined when everything is there, else the reason, after printing
 * `skipping <suite>: <reason> (<what to install or run>)`. With VIGIL_REQUIRE_ALL=1 (CI) a
 * missing requirement throws instead, so the suite fails; VIGIL_REQUIRE_POSTGRES=1 and
 * VIGIL_REQUIRE_BROWSER=1 do the same for PostgreSQL and chromium alone.
 *
 * VIGIL_TEST_HIDE=yara,clamav-testfiles,corpora,... makes the checks treat those as missing
 * (a tool, a Debian package or path, a corpus name, or the words corpora, postgres, chromium,
 * all), to try on a fully equipped machine what a bare one does.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { corpusLocations, hiddenCorpus } from "./corpora.js";

export interface Requirements {
  /** programs looked up on PATH, e.g. "yara", "clamscan", "clamd", "sigtool" */
  tools?: readonly string[];
  /** files or folders installed by Debian packages, e.g. "/usr/share/clamav-testfiles" */
  debianFiles?: readonly string[];
  /** corpora by folder name under corpora/, e.g. "yara/yara-rules", "clamav/rfxn" */
  corpora?: readonly string[];
  /** Debian's chromium at /usr/bin/chromium (the console browser tests) */
  chromium?: boolean;
}

/** The kinds of requirement, as VIGIL_REQUIRE_* and VIGIL_TEST_HIDE name them. */
export type RequirementKind = "tool" | "debian-file" | "corpus" | "chromium" | "postgres";

export const CHROMIUM = "/usr/bin/chromium";

export class TestKitError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TestKitError";
  }
}

/** Debian package of each tool the tests run (for the install hint). */
const TOOL_PACKAGES: Record<string, string> = {
  yara: "yara",
  clamscan: "clamav",
  sigtool: "clamav",
  freshclam: "clamav-freshclam",
  clamd: "clamav-daemon",
  clamdscan: "clamdscan",
  tlsh: "tlsh-tools",
  zip: "zip",
  unzip: "unzip",
  bzip2: "bzip2",
  xz: "xz-utils",
  python3: "python3",
  "7z": "p7zip-full",
  curl: "curl",
  chromium: "chromium",
  script: "bsdutils",
  uuencode: "sharutils",
};

/** Debian package owning each fixture path (longest prefix wins). */
const FILE_PACKAGES: [string, string][] = [
  ["/usr/share/clamav-testfiles", "clamav-testfiles"],
  ["/usr/share/nsis", "nsis-common"],
  ["/usr/share/win32", "gpgv-win32"],
  ["/usr/lib/mono", "libmono-system4.0-cil"],
  ["/usr/lib/shim/shimx64", "shim-signed"],
  ["/usr/lib/shim", "shim-helpers-amd64-signed"],
  ["/usr/lib/grub/x86_64-efi-signed", "grub-efi-amd64-signed"],
  ["/usr/bin/chromium", "chromium"],
];

export function packageOfTool(tool: string): string {
  return TOOL_PACKAGES[tool] ?? tool;
}

export function packageOfFile(path: string): string | undefined {
  let best: [string, string] | undefined;
  for (const e of FILE_PACKAGES) if (path.startsWith(e[0]) && (!best || e[0].length > best[0].length)) best = e;
  return best?.[1];
}

function hideList(): Set<string> {
  return new Set(
    (process.env.VIGIL_TEST_HIDE ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** Is any of `names` listed in VIGIL_TEST_HIDE (or is "all")? */
export function hidden(...names: (string | undefined)[]): boolean {
  const h = hideList();
  return h.has("all") || names.some((n) => n !== undefined && h.has(n));
}

/** The full path of `tool` on PATH, or undefined (also when hidden). */
export function findTool(tool: string): string | undefined {
  if (hidden(tool, packageOfTool(tool))) return undefined;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Is this file of a Debian package present (and not hidden)? */
export function haveDebianFile(path: string): boolean {
  return !hidden(path, packageOfFile(path)) && existsSync(path);
}

function requireFlags(kind: RequirementKind): string[] {
  const flags = ["VIGIL_REQUIRE_ALL"];
  if (kind === "postgres") flags.push("VIGIL_REQUIRE_POSTGRES");
  if (kind === "chromium") flags.push("VIGIL_REQUIRE_BROWSER");
  return flags.filter((f) => process.env[f] === "1");
}

/**
 * Reports one unmet requirement of `suite`: prints `skipping <suite>: <reason> (<hint>)` and
 * returns the reason, or throws TEST_REQUIREMENT_MISSING when VIGIL_REQUIRE_ALL=1 (or the
 * kind's own VIGIL_REQUIRE_POSTGRES / VIGIL_REQUIRE_BROWSER) is set. For checks `needs` cannot
 * make synchronously (PostgreSQL answering on its URL).
 */
export function unmet(suite: string, kinds: RequirementKind[], reason: string, hint: string): string {
  const flags = [...new Set(kinds.flatMap(requireFlags))];
  if (flags.length > 0) {
    throw new TestKitError(
      "TEST_REQUIREMENT_MISSING",
      `${suite}: ${reason} (${hint}); ${flags.join(", ")}=1 makes a missing requirement a failure`,
    );
  }
  console.warn(`skipping ${suite}: ${reason} (${hint})`);
  return reason;
}

/**
 * Checks `req` for `suite`: undefined when all is present, else the reason (printed, or thrown
 * under VIGIL_REQUIRE_ALL=1). Use as `describe.skipIf(needs(...))` or `test.skipIf(needs(...))`.
 */
export function needs(suite: string, req: Requirements): string | undefined {
  const reasons: string[] = [];
  const packages = new Set<string>();
  const kinds: RequirementKind[] = [];
  let fetch = false;

  const tools = (req.tools ?? []).filter((t) => !findTool(t));
  if (tools.length > 0) {
    reasons.push(
      `${tools.join(", ")} not found on PATH${tools.some((t) => hidden(t, packageOfTool(t))) ? " (VIGIL_TEST_HIDE)" : ""}`,
    );
    for (const t of tools) packages.add(packageOfTool(t));
    kinds.push("tool");
  }
  const files = (req.debianFiles ?? []).filter((f) => !haveDebianFile(f));
  if (files.length > 0) {
    reasons.push(
      `${files.join(", ")} missing${files.some((f) => hidden(f, packageOfFile(f))) ? " (VIGIL_TEST_HIDE)" : ""}`,
    );
    for (const f of files) {
      const p = packageOfFile(f);
      if (p) packages.add(p);
    }
    kinds.push("debian-file");
  }
  if (req.chromium && !haveDebianFile(CHROMIUM)) {
    reasons.push(`${CHROMIUM} missing${hidden("chromium") ? " (VIGIL_TEST_HIDE)" : ""}`);
    packages.add("chromium");
    kinds.push("chromium");
  }
  const corpora = (req.corpora ?? []).filter((c) => hiddenCorpus(c) || !corpusLocations(c).some((p) => existsSync(p)));
  if (corpora.length > 0) {
    reasons.push(
      `corpus ${corpora.join(", ")} not found in corpora/ nor ../shared/corpora/${corpora.some(hiddenCorpus) ? " (VIGIL_TEST_HIDE)" : ""}`,
    );
    fetch = true;
    kinds.push("corpus");
  }
  if (reasons.length === 0) return undefined;
  const hints: string[] = [];
  if (packages.size > 0)
    hints.push(`install Debian's ${[...packages].join(" ")}: apt-get install ${[...packages].join(" ")}`);
  if (fetch) hints.push("run npm run fetch-corpora");
  return unmet(suite, kinds, reasons.join("; "), hints.join(" / "));
}
