/**
 * The audit policy: marking and vocabulary word lists in many languages, document formats,
 * malware indicators and collection requests. The default lives in
 * `packages/updates/policy/audit-policy-v1.json` (documented in the README beside it); a witness
 * or endpoint policy file can extend it: `{"format":"vigil-audit-policy/v1","extends":"default",
 * "markings":[...more...]}` adds to every list, and may override `failOn` and `minAtomLength`.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { UpdateError } from "../error.js";

export type Severity = "low" | "medium" | "high";
export const SEVERITY_RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3 };

export interface WordList {
  readonly lang: string;
  /** "insensitive": any case; "upper": only as written in capitals (or under a nocase string) */
  readonly case?: "insensitive" | "upper";
  readonly severity: Severity;
  readonly words: readonly string[];
}

/**
 * Words that name an organisation, a project or the vocabulary of a defence or intelligence trade.
 * They are no finding alone; in a rule confined to documents they make the finding high.
 */
export interface EntityList {
  readonly lang: string;
  readonly kind: "organisation" | "project" | "trade";
  readonly words: readonly string[];
}

export interface DocumentFormat {
  readonly format: string;
  readonly strings?: readonly string[];
  /** names of container members only this format has: a rule that requires one is confined to it */
  readonly members?: readonly string[];
  readonly magic32?: readonly string[];
  readonly magic32be?: readonly string[];
  readonly magic16?: readonly string[];
}

export interface AuditPolicy {
  readonly format: "vigil-audit-policy/v1";
  readonly version: string;
  readonly failOn: Severity;
  readonly markings: readonly WordList[];
  readonly vocabulary: readonly WordList[];
  readonly entities: readonly EntityList[];
  readonly documentFormats: readonly DocumentFormat[];
  readonly documentExtensions: readonly string[];
  readonly malwareIndicators: readonly string[];
  readonly executableMagic: {
    readonly magic16?: readonly string[];
    readonly magic32?: readonly string[];
    readonly strings?: readonly string[];
  };
  readonly executableModules: readonly string[];
  readonly commonAtoms: readonly string[];
  readonly minAtomLength: number;
  readonly collection: {
    readonly metaKeys: readonly string[];
    readonly metaValuePatterns: readonly string[];
    readonly tags: readonly string[];
  };
}

const DEFAULT_PATH = fileURLToPath(new URL("../../policy/audit-policy-v1.json", import.meta.url));
let cachedDefault: AuditPolicy | undefined;

function bad(msg: string): UpdateError {
  return new UpdateError("BAD_POLICY", `audit policy: ${msg}`);
}

function checkLists(lists: unknown, what: string): WordList[] {
  if (lists === undefined) return [];
  if (!Array.isArray(lists)) throw bad(`"${what}" must be a list`);
  return lists.map((l, i) => {
    const o = l as WordList;
    if (
      typeof o !== "object" ||
      o === null ||
      typeof o.lang !== "string" ||
      !Array.isArray(o.words) ||
      !o.words.every((w) => typeof w === "string" && w.trim() !== "")
    ) {
      throw bad(`"${what}[${i}]" needs "lang" and a list of non-empty "words"`);
    }
    if (!["low", "medium", "high"].includes(o.severity))
      throw bad(`"${what}[${i}].severity" must be low, medium or high`);
    if (o.case !== undefined && o.case !== "insensitive" && o.case !== "upper")
      throw bad(`"${what}[${i}].case" must be insensitive or upper`);
    return o;
  });
}

function checkEntities(lists: unknown): EntityList[] {
  if (lists === undefined) return [];
  if (!Array.isArray(lists)) throw bad('"entities" must be a list');
  return lists.map((l, i) => {
    const o = l as EntityList;
    if (
      typeof o !== "object" ||
      o === null ||
      typeof o.lang !== "string" ||
      !Array.isArray(o.words) ||
      !o.words.every((w) => typeof w === "string" && w.trim() !== "")
    )
      throw bad(`"entities[${i}]" needs "lang" and a list of non-empty "words"`);
    if (!["organisation", "project", "trade"].includes(o.kind))
      throw bad(`"entities[${i}].kind" must be organisation, project or trade`);
    return o;
  });
}

function validate(o: Record<string, unknown>, base?: AuditPolicy): AuditPolicy {
  if (o.format !== "vigil-audit-policy/v1") throw bad('"format" must be "vigil-audit-policy/v1"');
  const strs = (v: unknown, what: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) throw bad(`"${what}" must be a list of strings`);
    return v as string[];
  };
  const failOn = (o.failOn ?? base?.failOn ?? "high") as Severity;
  if (!["low", "medium", "high"].includes(failOn)) throw bad('"failOn" must be low, medium or high');
  const minAtomLength = (o.minAtomLength ?? base?.minAtomLength ?? 4) as number;
  if (!Number.isInteger(minAtomLength) || minAtomLength < 1 || minAtomLength > 64)
    throw bad('"minAtomLength" must be 1..64');
  const formats = (o.documentFormats ?? []) as DocumentFormat[];
  if (!Array.isArray(formats)) throw bad('"documentFormats" must be a list');
  const coll = (o.collection ?? {}) as Record<string, unknown>;
  const exe = (o.executableMagic ?? {}) as Record<string, unknown>;
  for (const p of strs(coll.metaValuePatterns, "collection.metaValuePatterns")) {
    try {
      new RegExp(p, "iu");
    } catch {
      throw bad(`bad regular expression in collection.metaValuePatterns: ${p}`);
    }
  }
  return {
    format: "vigil-audit-policy/v1",
    version:
      typeof o.version === "string" ? (base ? `${base.version}+${o.version}` : o.version) : (base?.version ?? "custom"),
    failOn,
    markings: [...(base?.markings ?? []), ...checkLists(o.markings, "markings")],
    vocabulary: [...(base?.vocabulary ?? []), ...checkLists(o.vocabulary, "vocabulary")],
    entities: [...(base?.entities ?? []), ...checkEntities(o.entities)],
    documentFormats: [...(base?.documentFormats ?? []), ...formats],
    documentExtensions: [...(base?.documentExtensions ?? []), ...strs(o.documentExtensions, "documentExtensions")],
    malwareIndicators: [...(base?.malwareIndicators ?? []), ...strs(o.malwareIndicators, "malwareIndicators")],
    executableMagic: {
      magic16: [...(base?.executableMagic.magic16 ?? []), ...strs(exe.magic16, "executableMagic.magic16")],
      magic32: [...(base?.executableMagic.magic32 ?? []), ...strs(exe.magic32, "executableMagic.magic32")],
      strings: [...(base?.executableMagic.strings ?? []), ...strs(exe.strings, "executableMagic.strings")],
    },
    executableModules: [...(base?.executableModules ?? []), ...strs(o.executableModules, "executableModules")],
    commonAtoms: [...(base?.commonAtoms ?? []), ...strs(o.commonAtoms, "commonAtoms")],
    minAtomLength,
    collection: {
      metaKeys: [...(base?.collection.metaKeys ?? []), ...strs(coll.metaKeys, "collection.metaKeys")],
      metaValuePatterns: [
        ...(base?.collection.metaValuePatterns ?? []),
        ...strs(coll.metaValuePatterns, "collection.metaValuePatterns"),
      ],
      tags: [...(base?.collection.tags ?? []), ...strs(coll.tags, "collection.tags")],
    },
  };
}

/** The built-in default policy (packages/updates/policy/audit-policy-v1.json). */
export function defaultAuditPolicy(): AuditPolicy {
  if (!cachedDefault) cachedDefault = parseAuditPolicy(readFileSync(DEFAULT_PATH, "utf8"), false);
  return cachedDefault;
}

/** Parses a policy file's text; `"extends": "default"` adds its lists to the default policy's. */
export function parseAuditPolicy(text: string, allowExtends = true): AuditPolicy {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new UpdateError("BAD_POLICY", "audit policy is not valid JSON", { cause });
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw bad("must be a JSON object");
  if (o.extends !== undefined) {
    if (!allowExtends || o.extends !== "default") throw bad('"extends" may only be "default"');
    return validate(o, defaultAuditPolicy());
  }
  return validate(o);
}

export async function loadAuditPolicy(path?: string): Promise<AuditPolicy> {
  if (!path) return defaultAuditPolicy();
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new UpdateError("BAD_POLICY", `cannot read audit policy ${path}`, { cause });
  }
  return parseAuditPolicy(text);
}
