import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { walk, globToRegExp, pathFilter, pathToBytes, type WalkEntry, type WalkOptions } from "../src/index.js";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "vigil-walk-"));
  mkdirSync(join(root, "a/b/c"), { recursive: true });
  mkdirSync(join(root, "node_modules/x"), { recursive: true });
  writeFileSync(join(root, "top.txt"), "t");
  writeFileSync(join(root, "a/one.js"), "1");
  writeFileSync(join(root, "a/b/two.exe"), "2");
  writeFileSync(join(root, "a/b/c/three.js"), "3");
  writeFileSync(join(root, "node_modules/x/dep.js"), "d");
  symlinkSync(join(root, "a"), join(root, "a/b/c/loop"));
  symlinkSync(join(root, "top.txt"), join(root, "link.txt"));
  symlinkSync(join(root, "missing"), join(root, "dangling"));
  execFileSync("mkfifo", [join(root, "fifo")]);
});

async function collect(opts: WalkOptions = {}, roots = [root]): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  for await (const e of walk(roots, opts)) out.push(e);
  return out;
}
const rel = (p: string) => p.slice(root.length + 1);
const files = (es: WalkEntry[]) =>
  es
    .filter((e) => e.kind === "file")
    .map((e) => rel(e.path))
    .sort();

describe("walk", () => {
  it("names that are not UTF-8: walked as bytes, in directories with such names too, with and without stat", async () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-walk-bytes-"));
    const names = ["inv\xffalid.exe", "bad\xc3\x28.exe", "new\nline", "café", "d\xfe/x\xfe.com"].map((n) =>
      Buffer.from(n, n === "café" ? "utf8" : "latin1"),
    );
    mkdirSync(Buffer.from(`${d}/d\xfe`, "latin1"));
    for (const n of names) writeFileSync(Buffer.concat([Buffer.from(d + "/"), n]), "x");
    for (const statFiles of [true, false]) {
      const got: WalkEntry[] = [];
      for await (const e of walk([d], { statFiles })) got.push(e);
      expect(got.filter((e) => e.kind === "error")).toEqual([]);
      const files = got.filter((e) => e.kind === "file");
      expect(
        files
          .map((e) =>
            pathToBytes(e.path)
              .subarray(d.length + 1)
              .toString("latin1"),
          )
          .sort(),
      ).toEqual(names.map((n) => n.toString("latin1")).sort());
      if (statFiles) for (const f of files) expect(f.kind === "file" && f.stat?.size).toBe(1);
    }
  });

  it("lists regular files, skips symlinks and special files by default", async () => {
    const es = await collect();
    expect(files(es)).toEqual(["a/b/c/three.js", "a/b/two.exe", "a/one.js", "node_modules/x/dep.js", "top.txt"]);
    const skipped = es
      .filter((e) => e.kind === "skipped")
      .map((e) => [rel(e.path), (e as { reason: string }).reason])
      .sort();
    expect(skipped).toEqual([
      ["a/b/c/loop", "symlink"],
      ["dangling", "symlink"],
      ["fifo", "special"],
      ["link.txt", "symlink"],
    ]);
    expect(es.filter((e) => e.kind === "error")).toEqual([]);
  });

  it("following symlinks detects the loop and reports the dangling link, without hanging", async () => {
    const es = await collect({ followSymlinks: true });
    const errs = es
      .filter((e) => e.kind === "error")
      .map((e) => [rel(e.path), (e as { error: { code: string } }).error.code])
      .sort();
    expect(errs).toEqual([
      ["a/b/c/loop", "SYMLINK_LOOP"],
      ["dangling", "VANISHED"],
    ]);
    expect(files(es)).toContain("link.txt");
  });

  it("statFiles: false yields the same files from directory entries alone", async () => {
    const a = await collect();
    const b = await collect({ statFiles: false });
    expect(files(b)).toEqual(files(a));
    expect(
      b.filter((e) => e.kind === "file" && e.path.endsWith("one.js")).map((e) => (e as { stat?: unknown }).stat),
    ).toEqual([undefined]);
    expect(b.filter((e) => e.kind === "skipped").length).toBe(a.filter((e) => e.kind === "skipped").length);
  });

  it("max-depth, include and exclude (glob and regex)", async () => {
    expect(files(await collect({ maxDepth: 0 }))).toEqual(["top.txt"]);
    expect(files(await collect({ maxDepth: 1 }))).toEqual(["a/one.js", "top.txt"]);
    expect(files(await collect({ exclude: ["node_modules"] }))).not.toContain("node_modules/x/dep.js");
    expect(files(await collect({ include: ["*.js"], exclude: ["node_modules"] }))).toEqual([
      "a/b/c/three.js",
      "a/one.js",
    ]);
    expect(files(await collect({ excludeRegex: ["/a/b(/|$)"] }))).toEqual([
      "a/one.js",
      "node_modules/x/dep.js",
      "top.txt",
    ]);
    expect(files(await collect({ includeRegex: ["\\.exe$"] }))).toEqual(["a/b/two.exe"]);
    expect(files(await collect({ exclude: ["a/**/*.js"] }))).toEqual([
      "a/b/two.exe",
      "node_modules/x/dep.js",
      "top.txt",
    ]);
  });

  it("a missing root is an error entry, a file root is yielded, a symlink root is followed", async () => {
    const es = await collect({}, [join(root, "nope"), join(root, "top.txt"), join(root, "link.txt")]);
    expect(es.map((e) => e.kind)).toEqual(["error", "file", "file"]);
    expect((es[0] as { error: { code: string } }).error.code).toBe("ENOENT_PATH");
  });

  it("one-file-system does not cross into /proc", async () => {
    // /proc is another file system on Linux; with a depth limit the walk stays small
    const es = await collect({ oneFileSystem: true, maxDepth: 0 }, ["/"]);
    expect(es.some((e) => e.kind === "skipped" && e.path === "/proc" && e.reason === "other-filesystem")).toBe(true);
  });
});

describe("globs", () => {
  it("translates * ** ? and classes", () => {
    expect(globToRegExp("*.js").test("a.js")).toBe(true);
    expect(globToRegExp("*.js").test("a/b.js")).toBe(false);
    expect(globToRegExp("src/**/x?.[ch]").test("/r/src/a/b/x1.c")).toBe(true);
    expect(globToRegExp("src/**/x?.[!ch]").test("/r/src/x1.c")).toBe(false);
    expect(pathFilter({ exclude: ["*.tmp"] }).excluded("/a/b/c.tmp")).toBe(true);
    expect(() => pathFilter({ excludeRegex: ["("] })).toThrow(/invalid regular expression/);
  });
});
