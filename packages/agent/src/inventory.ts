/**
 * The agent's installed-software inventory through @vigil/inventory: collects the inventory of the configured root, checks it
 * and any configured executable paths against the same signed policy packs `vigil inventory`
 * uses (the shipped packs unless turned off, plus the agent's own), and turns the result into
 * the wire format the server stores (protocol InventoryReport). The agent decides when to call
 * it and whether the policy lets the result leave the endpoint.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import {
  builtinKeys,
  builtinPackPaths,
  collect,
  dateValue,
  evaluate,
  InventoryError,
  loadPack,
  parsePublicKey,
  scanExecutables,
  type Evidence,
  type Finding,
  type InventoryEntry,
  type LoadedPack,
  type PackKey,
} from "@vigil/inventory";
import { INVENTORY_MAX_ITEMS, type InventoryItem, type InventoryReport } from "@vigil/protocol";
import type { InventorySettings } from "./config.js";

/** Cuts a string to the protocol's limit for the field (the server refuses longer ones). */
const clip = (s: string, max: number) => (s.length > max ? s.slice(0, max) : s);

/** The packs the settings name, verified with the shipped keys and the configured ones. */
export function inventoryPacks(s: InventorySettings): LoadedPack[] {
  const keys: PackKey[] = builtinKeys();
  for (const f of s.trustKeys) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (e) {
      throw new InventoryError(
        "READ_FAILED",
        `${f}: cannot read the pack key (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); fix 'vigil agent config --inventory-trust-key'`,
        { cause: e },
      );
    }
    keys.push(parsePublicKey(text, f));
  }
  const paths = [...(s.builtinPacks ? builtinPackPaths() : []), ...s.packs];
  return paths.map((p) => loadPack(p, keys));
}

function evidenceText(e: Evidence, includePaths: boolean): string {
  // an ownership match names the file's path: keep only the package when paths may not leave
  if (e.kind === "owner" && !includePaths) return clip(`owner: a file of package "${e.matched}"`, 512);
  return clip(`${e.kind} "${e.found}" matches "${e.matched}"`, 512);
}

function subjectOf(f: Finding): string {
  const name = f.subject.kind === "entry" ? f.subject.entry.name : basename(f.subject.file.path) || f.subject.file.path;
  return clip(name || "(unnamed)", 512);
}

function itemOf(e: InventoryEntry, includePaths: boolean): InventoryItem {
  const it: InventoryItem = { name: clip(e.name, 512), source: e.source };
  if (e.version) it.version = clip(e.version, 256);
  if (e.vendor) it.vendor = clip(e.vendor, 512);
  if (e.installedAt) it.installedAt = clip(e.installedAt, 64);
  if (includePaths && e.installPath) it.installPath = clip(e.installPath, 4096);
  return it;
}

/** The wire report from entries, packs and findings. */
export function wireReport(
  entries: InventoryEntry[],
  packs: LoadedPack[],
  findings: Finding[],
  o: { includePaths: boolean; now: number },
): InventoryReport {
  const items = entries
    .filter((e) => e.name !== "")
    .slice(0, INVENTORY_MAX_ITEMS)
    .map((e) => itemOf(e, o.includePaths));
  return {
    collectedAt: o.now,
    packs: packs
      .slice(0, 100)
      .map((p) => ({ id: clip(p.pack.id, 256), version: p.pack.version, title: clip(p.pack.title, 1024) })),
    items,
    findings: findings.slice(0, 10_000).map((f) => {
      const first = [...f.inForce].sort((a, b) => dateValue(a.effective) - dateValue(b.effective))[0];
      return {
        status: f.status,
        packId: clip(f.pack.id, 256),
        packVersion: f.pack.version,
        vendor: clip(f.vendor.name, 256),
        subject: subjectOf(f),
        evidence: f.evidence.slice(0, 20).map((e) => evidenceText(e, o.includePaths)),
        ...(first ? { inForceSince: clip(first.effective, 64) } : {}),
      };
    }),
  };
}

/** Collects and evaluates the inventory the settings describe. */
export async function collectInventory(
  s: InventorySettings,
  o: { includePaths: boolean; now: number },
): Promise<InventoryReport> {
  // packs first: a broken or untrusted pack fails before the machine is read
  const packs = inventoryPacks(s);
  const inv = await collect({ root: s.root });
  let files: Awaited<ReturnType<typeof scanExecutables>>["files"] = [];
  if (s.scan.length) {
    const keepHashes = new Set(
      packs.flatMap((p) => p.pack.vendors.flatMap((v) => (v.hashes ?? []).map((h) => h.sha256.toLowerCase()))),
    );
    files = (await scanExecutables(s.scan, { root: s.root, entries: inv.entries, keepAll: false, keepHashes })).files;
  }
  const findings = evaluate(inv.entries, files, packs, new Date(o.now));
  return wireReport(inv.entries, packs, findings, o);
}
