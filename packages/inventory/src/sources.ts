/**
 * Inventory sources: each reads the files a package system or the OS leaves on disk (never
 * runs a package manager) under a root directory, so the same code inventories the running
 * machine ("/"), a mounted disk image or a generated test tree.
 * rpm lives in rpm.ts (its SQLite database is read by sqlite.ts).
 */
import { lstat } from "node:fs/promises";
import { basename, dirname, join, posix } from "node:path";
import type { InventoryEntry, SourceKind, SourceProblem, SourceResult } from "./types.js";
import { isDir, linkTarget, list, personName, readText, stanzas, under } from "./fsutil.js";

export interface SourceContext {
  root: string;
}

export type Source = (ctx: SourceContext) => Promise<SourceResult>;

async function mtimeOf(path: string): Promise<string | undefined> {
  try {
    return (await lstat(path)).mtime.toISOString();
  } catch {
    return undefined;
  }
}

function problem(source: SourceKind, path: string, e: unknown): SourceProblem {
  return { source, path, message: e instanceof Error ? e.message : String(e) };
}

function strs(o: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== "") out[k] = v;
  return out;
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined || o[k] === "") delete o[k];
  return o;
}

// ---------------------------------------------------------------- dpkg

/** dpkg: /var/lib/dpkg/status (installed stanzas) and info/PKG[:ARCH].list for the files. */
export async function dpkgSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const problems: SourceProblem[] = [];
  const statusPath = under(root, "/var/lib/dpkg/status");
  const text = await readText(statusPath);
  if (text === undefined) return { entries, problems };
  const infoDir = under(root, "/var/lib/dpkg/info");
  const infoFiles = new Set(await list(infoDir));
  for (const st of stanzas(text)) {
    const name = st.get("Package");
    const status = st.get("Status")?.split(/\s+/) ?? [];
    if (!name || !/^[a-z0-9][a-z0-9+.-]*$/.test(name)) continue;
    // want flag, error flag, state: keep what is (at least partly) on disk
    const state = status[2];
    if (state === undefined || state === "not-installed" || state === "config-files") continue;
    const arch = st.get("Architecture");
    let files: string[] | undefined;
    let installedAt: string | undefined;
    for (const cand of [`${name}:${arch}.list`, `${name}.list`]) {
      if (!infoFiles.has(cand)) continue;
      try {
        const l = await readText(join(infoDir, cand));
        if (l !== undefined) files = l.split("\n").filter((x) => x.startsWith("/"));
        installedAt = await mtimeOf(join(infoDir, cand));
      } catch (e) {
        problems.push(problem("dpkg", join(infoDir, cand), e));
      }
      break;
    }
    entries.push(
      clean({
        name,
        version: st.get("Version"),
        vendor: personName(st.get("Maintainer")),
        installPath: files ? installDirOf(files) : undefined,
        source: "dpkg" as const,
        installedAt,
        files,
        extra: strs({
          architecture: arch,
          status: state,
          description: st.get("Description")?.split("\n")[0],
          maintainer: st.get("Maintainer"),
        }),
      }),
    );
  }
  return { entries, problems };
}

/**
 * The directory that best says where a package lives: its own tree under /opt or
 * /usr/lib|/usr/share|/usr/libexec (named after it), else the directory of its first program.
 */
function installDirOf(files: string[]): string | undefined {
  const opt = files.find((f) => /^\/opt\/[^/]+\/./.test(f));
  if (opt) return opt.split("/").slice(0, 3).join("/");
  const bin = files.find((f) => /^\/(usr\/)?(s?bin|libexec)\/[^/]+$/.test(f));
  if (bin) return dirname(bin);
  return undefined;
}

// ---------------------------------------------------------------- apk

/** apk (Alpine): /lib/apk/db/installed; P name, V version, m maintainer, F dir, R file. */
export async function apkSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const text = await readText(under(root, "/lib/apk/db/installed"));
  if (text === undefined) return { entries, problems: [] };
  for (const block of text.split(/\n\s*\n/)) {
    let name: string | undefined, version: string | undefined, maint: string | undefined;
    let origin: string | undefined, arch: string | undefined, desc: string | undefined, url: string | undefined;
    let dir = "";
    const files: string[] = [];
    for (const line of block.split("\n")) {
      if (line.length < 2 || line[1] !== ":") continue;
      const v = line.slice(2).trimEnd();
      switch (line[0]) {
        case "P":
          name = v;
          break;
        case "V":
          version = v;
          break;
        case "m":
          maint = v;
          break;
        case "o":
          origin = v;
          break;
        case "A":
          arch = v;
          break;
        case "T":
          desc = v;
          break;
        case "U":
          url = v;
          break;
        case "F":
          dir = v;
          break;
        case "R":
          files.push(`/${dir ? `${dir}/` : ""}${v}`);
          break;
      }
    }
    if (!name) continue;
    entries.push(
      clean({
        name,
        version,
        vendor: personName(maint),
        installPath: installDirOf(files),
        source: "apk" as const,
        files,
        extra: strs({ architecture: arch, origin, description: desc, url }),
      }),
    );
  }
  return { entries, problems: [] };
}

// ---------------------------------------------------------------- snap

/** Top-level "key: value" pairs of a simple YAML document (enough for snap.yaml's header). */
function yamlTop(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z0-9_-]+):[ \t]*(.*?)\s*$/.exec(line);
    if (!m?.[2]) continue;
    let v = m[2];
    if ((v.startsWith("'") && v.endsWith("'")) || (v.startsWith('"') && v.endsWith('"'))) v = v.slice(1, -1);
    if (!out.has(m[1]!)) out.set(m[1]!, v);
  }
  return out;
}

/** snap: /snap/NAME/current (or the highest revision)/meta/snap.yaml. */
export async function snapSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const problems: SourceProblem[] = [];
  const base = under(root, "/snap");
  for (const name of await list(base)) {
    if (name === "bin" || name === "README") continue;
    const dir = join(base, name);
    let rev = await linkTarget(join(dir, "current"));
    if (rev === undefined) {
      const revs = (await list(dir)).filter((r) => /^x?\d+$/.test(r));
      rev = revs.sort((a, b) => Number(a.replace("x", "")) - Number(b.replace("x", ""))).at(-1);
    }
    if (rev === undefined) continue;
    const revDir = rev.startsWith("/") ? under(root, rev) : join(dir, basename(rev));
    try {
      const y = await readText(join(revDir, "meta", "snap.yaml"), 1 << 20);
      if (y === undefined) continue;
      const m = yamlTop(y);
      entries.push(
        clean({
          name: m.get("name") ?? name,
          version: m.get("version"),
          installPath: `/snap/${name}/${basename(rev)}`,
          installedAt: await mtimeOf(join(revDir, "meta", "snap.yaml")),
          source: "snap" as const,
          extra: strs({ revision: basename(rev), summary: m.get("summary"), identifier: name }),
        }),
      );
    } catch (e) {
      problems.push(problem("snap", revDir, e));
    }
  }
  return { entries, problems };
}

// ---------------------------------------------------------------- flatpak

function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^<>]*)?>([^<]*)</${tag}>`).exec(xml);
  return m ? decodeXml(m[1]!.trim()) : undefined;
}

export function decodeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#\d+);/g, (_, e: string) => {
    switch (e) {
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "amp":
        return "&";
      case "quot":
        return '"';
      case "apos":
        return "'";
    }
    const n = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : "";
  });
}

/** flatpak (system installation): /var/lib/flatpak/app/ID/ARCH/BRANCH/active/{metadata,files/share/metainfo}. */
export async function flatpakSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const problems: SourceProblem[] = [];
  const base = under(root, "/var/lib/flatpak/app");
  for (const id of await list(base)) {
    for (const arch of await list(join(base, id))) {
      if (arch === "current") continue;
      for (const branch of await list(join(base, id, arch))) {
        const active = join(base, id, arch, branch, "active");
        if (!(await isDir(active))) continue;
        try {
          const meta = (await readText(join(active, "metadata"), 1 << 20)) ?? "";
          const name = /^name=(.*)$/m.exec(meta)?.[1]?.trim() ?? id;
          let version: string | undefined, vendor: string | undefined, title: string | undefined;
          for (const f of [`${id}.metainfo.xml`, `${id}.appdata.xml`]) {
            for (const d of ["share/metainfo", "share/appdata"]) {
              const xml = await readText(join(active, "files", d, f), 4 << 20);
              if (xml === undefined) continue;
              version ??= /<release\b[^<>]*?\bversion="([^"]*)"/.exec(xml)?.[1];
              vendor ??=
                xmlText(xml, "developer_name") ?? /<developer\b[^<>]*>\s*<name[^<>]*>([^<]*)</.exec(xml)?.[1]?.trim();
              title ??= xmlText(xml, "name");
            }
          }
          entries.push(
            clean({
              name,
              version,
              vendor,
              installPath: `/var/lib/flatpak/app/${id}/${arch}/${branch}`,
              source: "flatpak" as const,
              extra: strs({ identifier: id, arch, branch, title, runtime: /^runtime=(.*)$/m.exec(meta)?.[1]?.trim() }),
            }),
          );
        } catch (e) {
          problems.push(problem("flatpak", active, e));
        }
      }
    }
  }
  return { entries, problems };
}

// ---------------------------------------------------------------- python

/** Python: *.dist-info/METADATA and *.egg-info/PKG-INFO in the system site- and dist-packages. */
export async function pythonSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const problems: SourceProblem[] = [];
  const dirs: string[] = [];
  for (const prefix of ["/usr/lib", "/usr/local/lib", "/usr/lib64", "/usr/local/lib64"]) {
    for (const py of await list(under(root, prefix))) {
      if (!/^python\d(\.\d+)?$/.test(py)) continue;
      for (const sp of ["site-packages", "dist-packages"]) dirs.push(posix.join(prefix, py, sp));
    }
  }
  for (const dir of dirs) {
    for (const d of await list(under(root, dir))) {
      const meta = d.endsWith(".dist-info") ? "METADATA" : d.endsWith(".egg-info") ? "PKG-INFO" : undefined;
      if (!meta) continue;
      const path = under(root, posix.join(dir, d, meta));
      try {
        const text = await readText(path, 1 << 20);
        if (text === undefined) continue;
        // headers end at the first blank line (the body is the long description)
        const h = stanzas(text.split(/\r?\n\r?\n/)[0] ?? "").next().value ?? new Map<string, string>();
        const name = h.get("Name");
        if (!name) continue;
        entries.push(
          clean({
            name,
            version: h.get("Version"),
            vendor: personName(
              h.get("Author") ?? h.get("Maintainer") ?? h.get("Author-email") ?? h.get("Maintainer-email"),
            ),
            installPath: dir,
            source: "python" as const,
            extra: strs({ summary: h.get("Summary"), homepage: h.get("Home-page") }),
          }),
        );
      } catch (e) {
        problems.push(problem("python", path, e));
      }
    }
  }
  return { entries, problems };
}

// ---------------------------------------------------------------- npm

function authorOf(a: unknown): string | undefined {
  if (typeof a === "string") return personName(a.replace(/\([^)]*\)/g, ""));
  if (a && typeof a === "object" && typeof (a as { name?: unknown }).name === "string")
    return (a as { name: string }).name;
  return undefined;
}

/** npm global packages: /usr/lib/node_modules and /usr/local/lib/node_modules (scopes included). */
export async function npmSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const problems: SourceProblem[] = [];
  for (const prefix of ["/usr/lib/node_modules", "/usr/local/lib/node_modules"]) {
    const pkgDirs: string[] = [];
    for (const d of await list(under(root, prefix))) {
      if (d.startsWith(".")) continue;
      if (d.startsWith("@"))
        for (const s of await list(under(root, `${prefix}/${d}`))) pkgDirs.push(`${prefix}/${d}/${s}`);
      else pkgDirs.push(`${prefix}/${d}`);
    }
    for (const dir of pkgDirs) {
      const path = under(root, `${dir}/package.json`);
      try {
        const text = await readText(path, 4 << 20);
        if (text === undefined) continue;
        const pj = JSON.parse(text) as Record<string, unknown>;
        const name = typeof pj.name === "string" ? pj.name : posix.basename(dir);
        entries.push(
          clean({
            name,
            version: typeof pj.version === "string" ? pj.version : undefined,
            vendor: authorOf(pj.author),
            installPath: dir,
            source: "npm" as const,
            extra: strs({ description: typeof pj.description === "string" ? pj.description : undefined }),
          }),
        );
      } catch (e) {
        problems.push(problem("npm", path, e));
      }
    }
  }
  return { entries, problems };
}

// ---------------------------------------------------------------- systemd

/** systemd service units: the unit directories of the system (earlier ones override later ones). */
export async function systemdSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const problems: SourceProblem[] = [];
  const seen = new Set<string>();
  for (const dir of [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
  ]) {
    for (const f of await list(under(root, dir))) {
      if (!f.endsWith(".service") || seen.has(f)) continue;
      const path = under(root, `${dir}/${f}`);
      try {
        const text = await readText(path, 1 << 20);
        if (text === undefined) continue; // a directory, or a link to nowhere
        seen.add(f);
        let section = "";
        const v: Record<string, string> = {};
        for (const raw of text.split("\n")) {
          const line = raw.trim();
          if (line.startsWith("[")) {
            section = line;
            continue;
          }
          const m = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
          if (!m) continue;
          const key = `${section}${m[1]}`;
          if (!(key in v) && m[2]) v[key] = m[2];
        }
        const linked = await linkTarget(path);
        entries.push(
          clean({
            name: f,
            installPath: `${dir}/${f}`,
            source: "systemd" as const,
            extra: strs({
              description: v["[Unit]Description"],
              execStart: v["[Service]ExecStart"]?.replace(/^[-@:+!]+/, ""),
              documentation: v["[Unit]Documentation"],
              masked: linked === "/dev/null" ? "yes" : undefined,
            }),
          }),
        );
      } catch (e) {
        problems.push(problem("systemd", path, e));
      }
    }
  }
  return { entries, problems };
}

// ---------------------------------------------------------------- kernel modules

/**
 * Kernel modules: the loaded ones (/proc/modules, with taint flags such as (OE) for out-of-tree
 * unsigned modules) and every module installed outside the kernel's own tree (extra/, updates/,
 * e.g. DKMS builds), with their files from modules.dep and versions from /sys/module/NAME/version.
 */
export async function kernelModuleSource({ root }: SourceContext): Promise<SourceResult> {
  const entries: InventoryEntry[] = [];
  const loaded = new Map<string, string>();
  const proc = await readText(under(root, "/proc/modules"), 4 << 20);
  for (const line of proc?.split("\n") ?? []) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || !f[0]) continue;
    loaded.set(f[0].replace(/-/g, "_"), f.slice(6).join(" ").replace(/[()]/g, ""));
  }
  const release = (await readText(under(root, "/proc/sys/kernel/osrelease"), 4096))?.trim();
  let kernels = release ? [release] : [];
  const libModules = (await isDir(under(root, "/lib/modules"))) ? "/lib/modules" : "/usr/lib/modules";
  if (!kernels.length || !(await isDir(under(root, `${libModules}/${kernels[0]}`))))
    kernels = await list(under(root, libModules));
  const paths = new Map<string, string>();
  const thirdParty = new Set<string>();
  for (const k of kernels) {
    const dep = await readText(under(root, `${libModules}/${k}/modules.dep`));
    for (const line of dep?.split("\n") ?? []) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const rel = line.slice(0, colon);
      const mod = basename(rel)
        .replace(/\.ko(\.(xz|gz|zst))?$/, "")
        .replace(/-/g, "_");
      const full = rel.startsWith("/") ? rel : `${libModules}/${k}/${rel}`;
      if (!paths.has(mod)) paths.set(mod, full);
      if (/^(extra|updates)\//.test(rel)) thirdParty.add(mod);
    }
  }
  const names = new Set([...loaded.keys(), ...thirdParty]);
  for (const name of [...names].sort()) {
    const version = (await readText(under(root, `/sys/module/${name}/version`), 4096))?.trim();
    entries.push(
      clean({
        name,
        version,
        installPath: paths.get(name),
        source: "kernel-module" as const,
        extra: strs({
          loaded: loaded.has(name) ? "yes" : "no",
          taint: loaded.get(name),
          outOfTree: thirdParty.has(name) ? "yes" : undefined,
        }),
      }),
    );
  }
  return { entries, problems: [] };
}

export const LINUX_SOURCES: Record<string, Source> = {
  dpkg: dpkgSource,
  apk: apkSource,
  snap: snapSource,
  flatpak: flatpakSource,
  python: pythonSource,
  npm: npmSource,
  systemd: systemdSource,
  "kernel-module": kernelModuleSource,
};
