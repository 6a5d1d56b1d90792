/**
 * The inventory report: one JSON document (`vigil-inventory-report/1`) holding the machine's
 * inventory, the packs used, the executables that matched and the findings. It is what
 * `vigil inventory --format json` prints. The fleet agent sends a smaller document built from
 * the same inventory and findings (the protocol's InventoryReport, made by
 * packages/cli/src/agent/inventory.ts; install paths only when the data policy allows them) to
 * `POST /api/v1/inventory`, and the server's console shows the fleet view. Text and SARIF 2.1.0
 * renderings are derived from this one.
 */
import type { ExecutableFacts, ExecutableScan } from "./executables.js";
import type { Inventory } from "./inventory.js";
import type { Evidence, Finding } from "./match.js";
import type { Forbidden, LoadedPack, PackProhibition } from "./pack.js";
import type { InventoryEntry, SourceKind, SourceProblem } from "./types.js";

export interface ReportEntry extends Omit<InventoryEntry, "files"> {
  /** how many files the package database lists for it. */
  fileCount?: number;
}

export interface ReportFinding {
  status: "forbidden" | "upcoming";
  /** index into `entries`, for an inventory entry. */
  entry?: number;
  /** the file, for an executable or hash match. */
  file?: ExecutableFacts;
  pack: { id: string; version: number };
  vendor: { id: string; name: string };
  evidence: Evidence[];
  forbids: Forbidden[];
  inForce: PackProhibition[];
  upcoming: PackProhibition[];
  changedAfter?: PackProhibition[];
}

export interface InventoryReport {
  schema: "vigil-inventory-report/1";
  host: { name: string; root: string };
  collectedAt: string;
  /** the date the packs were evaluated at. */
  evaluatedAt: string;
  packs: Array<{ id: string; version: number; title: string; authority: string; path: string; signedBy: string[] }>;
  sources: SourceKind[];
  entries: ReportEntry[];
  scan?: { paths: string[]; examined: number; executables: number; errors: Array<{ path: string; message: string }> };
  findings: ReportFinding[];
  problems: SourceProblem[];
  summary: { entries: number; forbidden: number; upcoming: number };
}

export function buildReport(
  inv: Inventory,
  packs: LoadedPack[],
  findings: Finding[],
  at: Date,
  scan?: { paths: string[]; result: ExecutableScan },
): InventoryReport {
  const index = new Map<InventoryEntry, number>();
  const entries = inv.entries.map((e, i) => {
    index.set(e, i);
    const { files, ...rest } = e;
    const r: ReportEntry = rest;
    if (files) r.fileCount = files.length;
    return r;
  });
  const rf = findings.map((f): ReportFinding => {
    const out: ReportFinding = {
      status: f.status,
      pack: { id: f.pack.id, version: f.pack.version },
      vendor: f.vendor,
      evidence: f.evidence,
      forbids: f.forbids,
      inForce: f.inForce,
      upcoming: f.upcoming,
    };
    if (f.changedAfter) out.changedAfter = f.changedAfter;
    if (f.subject.kind === "entry") out.entry = index.get(f.subject.entry);
    else out.file = f.subject.file;
    return out;
  });
  const report: InventoryReport = {
    schema: "vigil-inventory-report/1",
    host: { name: inv.collector, root: inv.root },
    collectedAt: inv.collectedAt,
    evaluatedAt: at.toISOString(),
    packs: packs.map((p) => ({
      id: p.pack.id,
      version: p.pack.version,
      title: p.pack.title,
      authority: p.pack.authority,
      path: p.path,
      signedBy: p.signedBy,
    })),
    sources: inv.sources,
    entries,
    findings: rf,
    problems: inv.problems,
    summary: {
      entries: entries.length,
      forbidden: rf.filter((f) => f.status === "forbidden").length,
      upcoming: rf.filter((f) => f.status === "upcoming").length,
    },
  };
  if (scan) {
    report.scan = {
      paths: scan.paths,
      examined: scan.result.examined,
      executables: scan.result.files.filter((f) => f.kind !== "other").length,
      errors: scan.result.errors,
    };
  }
  return report;
}

function label(r: InventoryReport, f: ReportFinding): { what: string; where?: string } {
  if (f.file) {
    const vi = f.file.versionInfo;
    const desc = vi
      ? [vi.ProductName, vi.FileVersion ?? vi.ProductVersion, vi.CompanyName && `(${vi.CompanyName})`]
          .filter(Boolean)
          .join(" ")
      : "";
    return { what: `${f.file.kind} file${desc ? ` ${desc}` : ""}`, where: f.file.path };
  }
  const e = r.entries[f.entry!]!;
  return {
    what: `${e.source} ${e.name}${e.version ? ` ${e.version}` : ""}${e.vendor ? ` (${e.vendor})` : ""}`,
    where: e.installPath,
  };
}

/** Human-readable text: one block per finding, then a summary line. */
export function renderText(r: InventoryReport, opts: { all?: boolean } = {}): string {
  const lines: string[] = [];
  if (opts.all) {
    for (const e of r.entries) {
      lines.push(
        `${e.source.padEnd(16)} ${e.name}${e.version ? ` ${e.version}` : ""}${e.vendor ? `  [${e.vendor}]` : ""}${e.installPath ? `  ${e.installPath}` : ""}`,
      );
    }
    if (r.entries.length) lines.push("");
  }
  for (const f of [...r.findings].sort((a, b) => (a.status === b.status ? 0 : a.status === "forbidden" ? -1 : 1))) {
    const { what, where } = label(r, f);
    lines.push(`${f.status === "forbidden" ? "FORBIDDEN" : "UPCOMING "}  ${what}${where ? `  ${where}` : ""}`);
    lines.push(`    pack ${f.pack.id} v${f.pack.version}, vendor ${f.vendor.name}`);
    lines.push(`    evidence: ${f.evidence.map((e) => `${e.kind} "${e.found}" matches "${e.matched}"`).join("; ")}`);
    if (f.changedAfter && f.entry !== undefined) {
      lines.push(
        `    installed or updated ${r.entries[f.entry]!.installedAt?.slice(0, 10)}, after ${f.changedAfter.map((p) => `${p.effective} (${p.forbids.join(", ")})`).join(" and ")}`,
      );
    }
    for (const p of f.inForce) lines.push(`    in force since ${p.effective}: ${p.forbids.join(", ")}: ${p.text}`);
    for (const p of f.upcoming) lines.push(`    from ${p.effective}: ${p.forbids.join(", ")}: ${p.text}`);
    lines.push("");
  }
  for (const p of r.problems) lines.push(`warning: ${p.source}: ${p.message}`);
  for (const e of r.scan?.errors ?? []) lines.push(`warning: ${e.path}: ${e.message}`);
  const packs = r.packs.map((p) => `${p.id} v${p.version}`).join(", ") || "none";
  lines.push(
    `${r.summary.entries} entries from ${r.sources.join(", ") || "no source"}${r.scan ? `; ${r.scan.examined} files examined, ${r.scan.executables} executables` : ""}; ` +
      `packs: ${packs}; evaluated at ${r.evaluatedAt.slice(0, 10)}: ${r.summary.forbidden} forbidden, ${r.summary.upcoming} upcoming`,
  );
  return lines.join("\n") + "\n";
}

/** SARIF 2.1.0: one rule per pack vendor, one result per finding (error when forbidden, warning when upcoming). */
export function renderSarif(r: InventoryReport): string {
  const rules = new Map<
    string,
    { id: string; name: string; shortDescription: { text: string }; properties: Record<string, unknown> }
  >();
  for (const f of r.findings) {
    const id = `${f.pack.id}/${f.vendor.id}`;
    if (!rules.has(id)) {
      const pack = r.packs.find((p) => p.id === f.pack.id);
      rules.set(id, {
        id,
        name: f.vendor.name,
        shortDescription: { text: `${f.vendor.name}: ${pack?.title ?? f.pack.id}` },
        properties: { pack: f.pack, authority: pack?.authority },
      });
    }
  }
  const ruleIds = [...rules.keys()];
  const results = r.findings.map((f) => {
    const { what, where } = label(r, f);
    const location: Record<string, unknown> = {};
    if (where)
      location.physicalLocation = {
        artifactLocation: {
          uri: where.startsWith("/") ? `file://${encodeURI(where)}` : encodeURI(where.replace(/\\/g, "/")),
        },
      };
    location.logicalLocations = [{ name: what, kind: f.file ? "file" : "package" }];
    return {
      ruleId: `${f.pack.id}/${f.vendor.id}`,
      ruleIndex: ruleIds.indexOf(`${f.pack.id}/${f.vendor.id}`),
      level: f.status === "forbidden" ? "error" : "warning",
      message: {
        text: `${what}: ${f.status === "forbidden" ? `forbidden (${f.forbids.join(", ")})` : `prohibited from ${f.upcoming[0]?.effective}`} by ${f.pack.id}; evidence: ${f.evidence.map((e) => `${e.kind} "${e.found}"`).join("; ")}`,
      },
      locations: [location],
      properties: {
        status: f.status,
        forbids: f.forbids,
        changedAfter: f.changedAfter?.map((p) => p.effective),
        evidence: f.evidence,
        inForce: f.inForce.map((p) => p.effective),
        upcoming: f.upcoming.map((p) => p.effective),
      },
    };
  });
  return (
    JSON.stringify(
      {
        $schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [
          {
            tool: { driver: { name: "vigil inventory", rules: [...rules.values()] } },
            invocations: [{ executionSuccessful: true, endTimeUtc: r.collectedAt }],
            results,
          },
        ],
      },
      null,
      2,
    ) + "\n"
  );
}
