/**
 * Matching: inventory entries and executables against policy packs, at a date. Each match
 * carries its evidence (which field of the entry or file met which field of the pack) and the
 * pack's prohibitions split into those in force at the date and those still to come.
 */
import type { ExecutableFacts } from "./executables.js";
import { dateValue, type Forbidden, type LoadedPack, type PackProhibition, type PackVendor } from "./pack.js";
import type { InventoryEntry } from "./types.js";

export type EvidenceKind =
  | "package"
  | "publisher"
  | "vendor"
  | "product-name"
  | "pe-company"
  | "certificate"
  | "hash"
  | "owner";

export interface Evidence {
  kind: EvidenceKind;
  /** what was found on the machine. */
  found: string;
  /** the pack value it matched. */
  matched: string;
}

export interface Finding {
  status: "forbidden" | "upcoming";
  subject: { kind: "entry"; entry: InventoryEntry } | { kind: "file"; file: ExecutableFacts };
  pack: { id: string; version: number; title: string };
  vendor: { id: string; name: string };
  evidence: Evidence[];
  inForce: PackProhibition[];
  upcoming: PackProhibition[];
  /** everything forbidden at the evaluation date. */
  forbids: Forbidden[];
  /**
   * prohibitions of new installations or of updates that were already in force when the entry
   * was installed or last updated (from its installedAt): evidence of a change made after the ban.
   */
  changedAfter?: PackProhibition[];
}

/** Lower case, accents and punctuation removed, single spaces: for word-sequence comparisons. */
const normCache = new Map<string, string>();
export function normalizeName(s: string): string {
  let n = normCache.get(s);
  if (n === undefined) {
    n = s
      .normalize("NFKD")
      .replace(/\p{M}/gu, "")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, " ")
      .trim();
    if (normCache.size > 100_000) normCache.clear();
    normCache.set(s, n);
  }
  return n;
}

/** true when `needle`'s words appear, in order and adjacent, in `hay`. */
export function containsWords(hay: string, needle: string): boolean {
  const n = normalizeName(needle);
  return n !== "" && ` ${normalizeName(hay)} `.includes(` ${n} `);
}

const globCache = new Map<string, RegExp>();
export function globMatch(glob: string, s: string): boolean {
  let re = globCache.get(glob);
  if (!re) {
    re = new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
      "is",
    );
    globCache.set(glob, re);
  }
  return re.test(s);
}

/** The O= and CN= values of an OpenSSL one-line name ("/C=RU/O=AO Kaspersky Lab/CN=..."). */
export function subjectNames(subject: string): string[] {
  const out: string[] = [];
  const re = /\/(CN|O|commonName|organizationName)=((?:[^/]|\/(?![A-Za-z.0-9]+=))*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(subject))) if (m[2]) out.push(m[2]);
  return out;
}

const eq = (a: string, b: string) => normalizeName(a) === normalizeName(b) && normalizeName(a) !== "";

/** Sources whose entry names are product names (so vendor names inside them count). */
const PRODUCT_NAMED = new Set(["windows-registry", "macos-app", "flatpak", "snap"]);

export function entryEvidence(e: InventoryEntry, v: PackVendor): Evidence[] {
  const ev: Evidence[] = [];
  for (const p of v.packages ?? []) {
    if (p.sources && !p.sources.includes(e.source)) continue;
    for (const n of [e.name, e.extra?.identifier]) {
      if (n && globMatch(p.name, n)) {
        ev.push({ kind: "package", found: n, matched: p.name });
        break;
      }
    }
  }
  const names = [v.name, ...(v.aliases ?? [])];
  if (e.vendor) {
    const pub = (v.publishers ?? []).find((p) => eq(p, e.vendor!));
    if (pub) ev.push({ kind: "publisher", found: e.vendor, matched: pub });
    else {
      const n = names.find((x) => containsWords(e.vendor!, x));
      if (n) ev.push({ kind: "vendor", found: e.vendor, matched: n });
    }
  }
  if (PRODUCT_NAMED.has(e.source)) {
    const n = names.find((x) => containsWords(e.name, x));
    if (n) ev.push({ kind: "product-name", found: e.name, matched: n });
  }
  return ev;
}

export function fileEvidence(f: ExecutableFacts, v: PackVendor, ownerMatched: boolean): Evidence[] {
  const ev: Evidence[] = [];
  const names = [v.name, ...(v.aliases ?? [])];
  const company = f.versionInfo?.CompanyName;
  if (company) {
    const m = (v.publishers ?? []).find((p) => eq(p, company)) ?? names.find((x) => containsWords(company, x));
    if (m) ev.push({ kind: "pe-company", found: company, matched: m });
  }
  for (const s of f.signers ?? []) {
    for (const n of subjectNames(s.subject)) {
      const m = (v.certificateSubjects ?? []).find((c) => eq(c, n)) ?? names.find((x) => eq(x, n));
      if (m) {
        ev.push({
          kind: "certificate",
          found: `${s.subject}${s.verified ? "" : " (signature not verified)"}`,
          matched: m,
        });
        break;
      }
    }
  }
  if (f.sha256) {
    const h = (v.hashes ?? []).find((x) => x.sha256.toLowerCase() === f.sha256);
    if (h) ev.push({ kind: "hash", found: f.sha256, matched: h.note ? `${h.sha256} (${h.note})` : h.sha256 });
  }
  if (ownerMatched && f.owner)
    ev.push({
      kind: "owner",
      found: `${f.path} is installed by ${f.owner.source} package ${f.owner.name}`,
      matched: f.owner.name,
    });
  return ev;
}

function split(
  pack: LoadedPack,
  vendor: PackVendor,
  at: number,
): Pick<Finding, "inForce" | "upcoming" | "forbids" | "status"> {
  const rules = pack.pack.prohibitions.filter((p) => !p.vendors || p.vendors.includes(vendor.id));
  const inForce = rules.filter((p) => dateValue(p.effective) <= at);
  const upcoming = rules.filter((p) => dateValue(p.effective) > at);
  const forbids = [...new Set(inForce.flatMap((p) => p.forbids))];
  return { inForce, upcoming, forbids, status: inForce.length ? "forbidden" : "upcoming" };
}

/** Matches entries and files against packs at `at` (default now). */
export function evaluate(
  entries: InventoryEntry[],
  files: ExecutableFacts[],
  packs: LoadedPack[],
  at: Date = new Date(),
): Finding[] {
  const t = at.getTime();
  const findings: Finding[] = [];
  for (const lp of packs) {
    const packRef = { id: lp.pack.id, version: lp.pack.version, title: lp.pack.title };
    for (const v of lp.pack.vendors) {
      const vendorRef = { id: v.id, name: v.name };
      const matchedPackages = new Set<string>();
      for (const e of entries) {
        const evidence = entryEvidence(e, v);
        if (!evidence.length) continue;
        if (e.source === "dpkg" || e.source === "rpm" || e.source === "apk")
          matchedPackages.add(`${e.source}\0${e.name}`);
        const f: Finding = {
          subject: { kind: "entry", entry: e },
          pack: packRef,
          vendor: vendorRef,
          evidence,
          ...split(lp, v, t),
        };
        const when = e.installedAt ? Date.parse(e.installedAt) : NaN;
        if (!Number.isNaN(when)) {
          const after = f.inForce.filter(
            (p) => dateValue(p.effective) <= when && p.forbids.some((x) => x === "install" || x === "updates"),
          );
          if (after.length) f.changedAfter = after;
        }
        findings.push(f);
      }
      for (const f of files) {
        const owned = f.owner !== undefined && matchedPackages.has(`${f.owner.source}\0${f.owner.name}`);
        // a plain file owned by a matched package is covered by the package's finding
        if (f.kind === "other" && !f.sha256) continue;
        const evidence = fileEvidence(f, v, owned && f.kind !== "other");
        if (!evidence.length) continue;
        findings.push({
          subject: { kind: "file", file: f },
          pack: packRef,
          vendor: vendorRef,
          evidence,
          ...split(lp, v, t),
        });
      }
    }
  }
  return findings;
}
