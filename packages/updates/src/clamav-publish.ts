/**
 * ClamAV's updates into Vigil's transparency log: `mirrorClamavToLog` brings a database
 * directory up to date from a ClamAV mirror (updateClamavDatabases: freshclam's protocol, every
 * .cvd/.cdiff verified with ClamAV's keys), then publishes the directory's databases as the next
 * version of a bundle (default name "clamav") into the log and asks the witnesses to cosign it.
 * The witnesses audit what the databases' signatures look for (audit/clamav.ts), so an update
 * hunting documents is refused there, and endpoints apply it only with a quorum, like any
 * bundle. Nothing is published when no database changed and the log already has the bundle.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "./bundle.js";
import { updateClamavDatabases, type ClamavMirrorOptions, type ClamavMirrorResult } from "./clamav-mirror.js";
import { publish, type PublishOptions, type PublishResult } from "./publish.js";

export interface MirrorToLogOptions extends Omit<PublishOptions, "rulesDir" | "name" | "compileCheck"> {
  readonly mirror: ClamavMirrorOptions["mirror"];
  /** Where the databases are kept between runs (freshclam's DatabaseDirectory). */
  readonly databaseDir: string;
  readonly databases?: readonly string[];
  /** Bundle name in the log (default "clamav"). */
  readonly name?: string;
  /** More options for updateClamavDatabases (keys, timeouts, private mirror...). */
  readonly mirrorOptions?: Partial<Omit<ClamavMirrorOptions, "mirror" | "databaseDir" | "databases">>;
}

export interface MirrorToLogResult {
  readonly mirror: ClamavMirrorResult;
  /** Absent when nothing changed since the bundle last published. */
  readonly published?: PublishResult;
}

const STAMP = "vigil-clamav-published.json";

export async function mirrorClamavToLog(o: MirrorToLogOptions): Promise<MirrorToLogResult> {
  const mirror = await updateClamavDatabases({
    ...o.mirrorOptions,
    mirror: o.mirror,
    databaseDir: o.databaseDir,
    ...(o.databases ? { databases: o.databases } : {}),
  });
  const changed = mirror.databases.some((d) => d.status === "updated");
  // what was published last, by the databases' versions: a first run publishes what is there
  const versions = JSON.stringify(mirror.databases.map((d) => [d.name, d.version ?? null]));
  const stampPath = join(o.databaseDir, STAMP);
  const last = await readFile(stampPath, "utf8").catch(() => "");
  if (!changed && last === sha256Hex(versions + o.logDir)) return { mirror };
  if (mirror.databases.every((d) => d.status === "refused")) return { mirror };
  const published = await publish({
    rulesDir: o.databaseDir,
    logDir: o.logDir,
    publisherKey: o.publisherKey,
    ...(o.logKey ? { logKey: o.logKey } : {}),
    name: o.name ?? "clamav",
    ...(o.witnesses ? { witnesses: o.witnesses } : {}),
    ...(o.time ? { time: o.time } : {}),
  });
  await writeFile(stampPath, sha256Hex(versions + o.logDir));
  return { mirror, published };
}
