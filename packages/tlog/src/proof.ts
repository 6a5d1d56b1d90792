/**
 * C2SP tlog-proof (c2sp.org/tlog-proof): a self-contained, offline-verifiable proof that an entry
 * is in a log, made of the entry's index, its inclusion proof and the (cosigned) checkpoint.
 */
import { decodeBase64, encodeBase64 } from "./base64.js";
import { TlogError } from "./error.js";
import { HASH_SIZE, MAX_PROOF_LENGTH, toBigIndex } from "./merkle.js";
import { parseTreeSize } from "./checkpoint.js";

export const TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1";

export interface TlogProof {
  readonly index: bigint;
  readonly proof: Uint8Array[];
  /** the checkpoint note, verbatim (with its signatures and cosignatures) */
  readonly checkpoint: string;
  /** opaque, unauthenticated extra data */
  readonly extra?: Uint8Array;
}

function fail(msg: string): TlogError {
  return new TlogError("BAD_CHECKPOINT", `tlog-proof: ${msg}`);
}

export function formatTlogProof(p: TlogProof): string {
  const index = toBigIndex(p.index, "index");
  if (p.proof.length > MAX_PROOF_LENGTH) throw fail(`at most ${MAX_PROOF_LENGTH} proof hashes`);
  let out = TLOG_PROOF_HEADER + "\n";
  if (p.extra !== undefined) {
    if (p.extra.length === 0) throw fail("extra data, when present, must not be empty");
    out += `extra ${encodeBase64(p.extra)}\n`;
  }
  out += `index ${index}\n`;
  for (const h of p.proof) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw fail("every proof hash must be 32 bytes");
    out += encodeBase64(h) + "\n";
  }
  if (typeof p.checkpoint !== "string" || !p.checkpoint.endsWith("\n"))
    throw fail("the checkpoint must be a note ending in a newline");
  return out + "\n" + p.checkpoint;
}

/** Parses a tlog-proof strictly. The checkpoint is returned verbatim: open it with `openNote`. */
export function parseTlogProof(text: string): TlogProof {
  if (typeof text !== "string") throw fail("expected text");
  let rest = text;
  const line = (): string => {
    const i = rest.indexOf("\n");
    if (i < 0) throw fail("truncated");
    const l = rest.slice(0, i);
    rest = rest.slice(i + 1);
    return l;
  };
  if (line() !== TLOG_PROOF_HEADER) throw fail(`the first line must be ${TLOG_PROOF_HEADER}`);
  let l = line();
  let extra: Uint8Array | undefined;
  if (l.startsWith("extra ")) {
    extra = decodeBase64(l.slice(6));
    if (!extra || extra.length === 0) throw fail("bad base64 in the extra line");
    l = line();
  }
  const m = /^index (\d+)$/.exec(l);
  const index = m ? parseTreeSize(m[1]!) : undefined;
  if (index === undefined) throw fail("expected 'index <n>' (decimal, no leading zeros)");
  const proof: Uint8Array[] = [];
  for (;;) {
    l = line();
    if (l === "") break;
    const h = decodeBase64(l);
    if (!h || h.length !== HASH_SIZE) throw fail("each proof line must be one base64 SHA-256 hash");
    if (proof.length >= MAX_PROOF_LENGTH) throw fail(`more than ${MAX_PROOF_LENGTH} proof hashes`);
    proof.push(h);
  }
  if (rest === "" || !rest.endsWith("\n")) throw fail("missing checkpoint after the blank line");
  return extra ? { index, proof, checkpoint: rest, extra } : { index, proof, checkpoint: rest };
}
