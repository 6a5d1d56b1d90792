import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  corpus,
  corpusLocations,
  EICAR,
  EICAR_YARA,
  findTool,
  mulberry32,
  needs,
  packageOfFile,
  REPO_ROOT,
  TestKitError,
} from "@vigil/test-kit";

// these tests set the variables themselves: the ones the run was started with (CI sets
// VIGIL_REQUIRE_ALL=1, a trial run VIGIL_TEST_HIDE) are put aside and restored after each
const VARS = ["VIGIL_TEST_HIDE", "VIGIL_REQUIRE_ALL", "VIGIL_REQUIRE_POSTGRES", "VIGIL_REQUIRE_BROWSER", "PATH"];
const saved = { ...process.env };
beforeEach(() => {
  for (const k of VARS.filter((v) => v !== "PATH")) delete process.env[k];
});
afterEach(() => {
  for (const k of VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  vi.restoreAllMocks();
});

function quietly<T>(f: () => T): { value: T; printed: string } {
  let printed = "";
  vi.spyOn(console, "warn").mockImplementation((...a: unknown[]) => {
    printed += a.join(" ") + "\n";
  });
  return { value: f(), printed };
}

describe("needs", () => {
  it("finds a tool on PATH and says nothing when all is there", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-kit-"));
    try {
      process.env.PATH = `${dir}:${join(process.execPath, "..")}`;
      const node = findTool("node");
      expect(node).toBe(process.execPath);
      const r = quietly(() => needs("a suite", { tools: ["node"] }));
      expect(r.value).toBeUndefined();
      expect(r.printed).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("returns and prints the reason with the Debian package to install", () => {
    process.env.PATH = "/nonexistent";
    const r = quietly(() =>
      needs("yara parity", { tools: ["yara", "clamd"], debianFiles: ["/nonexistent/clamav-testfiles-x"] }),
    );
    expect(r.value).toMatch(/^yara, clamd not found on PATH; \/nonexistent\/clamav-testfiles-x missing$/);
    expect(r.printed).toBe(
      "skipping yara parity: yara, clamd not found on PATH; /nonexistent/clamav-testfiles-x missing (install Debian's yara clamav-daemon: apt-get install yara clamav-daemon)\n",
    );
  });

  it("VIGIL_TEST_HIDE makes present things missing: tools, Debian packages, corpora, chromium", () => {
    process.env.VIGIL_TEST_HIDE = "node,clamav-testfiles,corpora,chromium";
    const r = quietly(() =>
      needs("hidden", {
        tools: ["node"],
        debianFiles: ["/usr/share/clamav-testfiles"],
        corpora: ["yara/bartblaze"],
        chromium: true,
      }),
    );
    expect(r.value).toContain("node not found on PATH");
    expect(r.value).toContain("/usr/share/clamav-testfiles missing");
    expect(r.value).toContain("corpus yara/bartblaze not found");
    expect(r.value).toContain("/usr/bin/chromium missing");
    expect(r.printed).toContain("run npm run fetch-corpora");
    expect(corpus("yara/bartblaze")).toContain("hidden-by-VIGIL_TEST_HIDE");
  });

  it("VIGIL_REQUIRE_ALL=1 turns a missing requirement into a coded failure", () => {
    process.env.VIGIL_TEST_HIDE = "node";
    process.env.VIGIL_REQUIRE_ALL = "1";
    expect(() => needs("strict", { tools: ["node"] })).toThrow(TestKitError);
    expect(() => needs("strict", { tools: ["node"] })).toThrow(
      expect.objectContaining({
        code: "TEST_REQUIREMENT_MISSING",
        message: expect.stringContaining("VIGIL_REQUIRE_ALL=1"),
      }),
    );
  });

  it("VIGIL_REQUIRE_BROWSER=1 fails for chromium only, not for other requirements", () => {
    process.env.VIGIL_TEST_HIDE = "node,chromium";
    process.env.VIGIL_REQUIRE_BROWSER = "1";
    expect(quietly(() => needs("tools", { tools: ["node"] })).value).toContain("node not found");
    expect(() => needs("browser", { chromium: true })).toThrow(/VIGIL_REQUIRE_BROWSER=1/);
  });

  it("knows which Debian package installs a fixture path", () => {
    expect(packageOfFile("/usr/share/clamav-testfiles/clam.exe")).toBe("clamav-testfiles");
    expect(packageOfFile("/usr/lib/shim/shimx64.efi.signed")).toBe("shim-signed");
    expect(packageOfFile("/usr/lib/shim/mmx64.efi")).toBe("shim-helpers-amd64-signed");
    expect(packageOfFile("/etc/passwd")).toBeUndefined();
  });
});

describe("corpus", () => {
  it("looks in corpora/ first, then in ../shared/corpora beside the repository", () => {
    expect(corpusLocations("clamav/rfxn")).toEqual([
      join(REPO_ROOT, "corpora", "clamav/rfxn"),
      join(REPO_ROOT, "..", "shared", "corpora", "clamav/rfxn"),
    ]);
    const name = `test-kit-probe-${process.pid}`;
    const local = join(REPO_ROOT, "corpora", name);
    expect(corpus(name)).toBe(local); // absent everywhere: where fetch-corpora would put it
    mkdirSync(local, { recursive: true });
    try {
      expect(corpus(name)).toBe(local);
      expect(quietly(() => needs("probe", { corpora: [name] })).value).toBeUndefined();
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });
});

describe("inputs", () => {
  it("EICAR is the 68-byte test string, and its YARA form escapes the backslash", () => {
    expect(EICAR).toHaveLength(68);
    expect(EICAR_YARA).toBe(EICAR.replace("\\", "\\\\"));
  });

  it("mulberry32 repeats from its seed", () => {
    const a = mulberry32(7),
      b = mulberry32(7),
      c = mulberry32(8);
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect(c()).not.toBe(xs[0]);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});
