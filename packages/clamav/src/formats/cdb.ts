/**
 * `.cdb` container metadata signatures:
 * `Name:ContainerType:ContainerSize:FileNameREGEX:FileSizeInContainer:FileSizeReal:IsEncrypted:FilePos:Res1:Res2[:MinFL[:MaxFL]]`.
 * Parsed and counted (one per line, as clamscan's "Known viruses"); ContainerType and
 * ContainerSize are compared with the parent layer, FilePos is the 1-based member index, the
 * name regex is an unanchored POSIX ERE that never matches an unnamed member, and Res1/Res2
 * are not read (ClamAV 1.4 ignores them too). `matchContainerMeta` applies one to a member.
 */

import { SignatureSyntaxError } from "../signature/fields.js";
import { flevelExcludes } from "./flevel.js";

/** `n`, `n-m` or `*` (a bound of 0 is open), as [lo, hi] with undefined for open. */
export type SizeRange = [number | undefined, number | undefined] | undefined;

export interface CdbSignature {
  name: string;
  /** the database line it came from (what a scan thread parses it back from) */
  line: string;
  /** CL_TYPE_* of the parent layer, or undefined for `*`. */
  containerType: string | undefined;
  containerSize: SizeRange;
  fileName: RegExp | undefined;
  sizeInContainer: SizeRange;
  sizeReal: SizeRange;
  encrypted: boolean | undefined;
  filePos: SizeRange;
}

/** What a container layer says about one of its members. */
export interface ContainerMember {
  /** CL_TYPE_* of the parent layer, e.g. CL_TYPE_ZIP */
  containerType: string;
  containerSize: number;
  name?: string;
  sizeInContainer?: number;
  sizeReal?: number;
  encrypted?: boolean;
  /** 1-based index of the member in its container */
  filePos?: number;
}

function range(v: string, what: string): SizeRange {
  if (v === "*") return undefined;
  const m = v.match(/^(\d+)(?:-(\d+))?$/);
  if (!m) throw new SignatureSyntaxError(`bad ${what} '${v}' (expected n, n-m or *)`);
  const lo = +m[1]!;
  if (m[2] === undefined) return [lo, lo];
  const hi = +m[2];
  return [lo === 0 ? undefined : lo, hi === 0 ? undefined : hi];
}

/** A POSIX ERE as a JavaScript regex (the common subset; bracket classes like [[:alpha:]] mapped). */
function posixRegex(re: string): RegExp {
  const classes: Record<string, string> = {
    alpha: "A-Za-z",
    digit: "0-9",
    alnum: "A-Za-z0-9",
    upper: "A-Z",
    lower: "a-z",
    space: "\\s",
    punct: "!-/:-@\\[-`{-~",
    xdigit: "0-9A-Fa-f",
  };
  const js = re.replace(/\[:([a-z]+):\]/g, (all, c: string) => classes[c] ?? all);
  try {
    return new RegExp(js, "s");
  } catch (e) {
    throw new SignatureSyntaxError(`bad file name regex '${re}': ${(e as Error).message}`);
  }
}

/** Parses one `.cdb` line; undefined when its FLEVEL range excludes `flevel` (not checked when undefined). */
export function parseCdbLine(line: string, flevel: number | undefined): CdbSignature | undefined {
  const f = line.split(":");
  if (f.length < 10 || f.length > 12)
    throw new SignatureSyntaxError(
      "expected 10 to 12 ':' separated fields (Name:ContainerType:ContainerSize:FileNameREGEX:FileSizeInContainer:FileSizeReal:IsEncrypted:FilePos:Res1:Res2[:MinFL[:MaxFL]])",
    );
  if (flevel !== undefined && flevelExcludes(f[10], f[11], flevel)) return undefined;
  const [name, type, csize, fname, sic, sreal, enc, pos] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (name === "") throw new SignatureSyntaxError("empty signature name");
  if (type !== "*" && !/^CL_TYPE_[A-Z0-9_]+$/.test(type))
    throw new SignatureSyntaxError(`bad container type '${type}'`);
  if (!/^[01*]$/.test(enc)) throw new SignatureSyntaxError(`bad IsEncrypted '${enc}' (0, 1 or *)`);
  return {
    name,
    line,
    containerType: type === "*" ? undefined : type,
    containerSize: range(csize, "ContainerSize"),
    fileName: fname === "*" ? undefined : posixRegex(fname),
    sizeInContainer: range(sic, "FileSizeInContainer"),
    sizeReal: range(sreal, "FileSizeReal"),
    encrypted: enc === "*" ? undefined : enc === "1",
    filePos: range(pos, "FilePos"),
  };
}

const inRange = (r: SizeRange, v: number | undefined): boolean =>
  r === undefined || (v !== undefined && (r[0] === undefined || v >= r[0]) && (r[1] === undefined || v <= r[1]));

/** Whether a `.cdb` signature matches a container member (what ClamAV's cli_matchmeta compares). */
export function matchContainerMeta(sig: CdbSignature, m: ContainerMember): boolean {
  if (sig.containerType !== undefined && sig.containerType !== m.containerType) return false;
  if (!inRange(sig.containerSize, m.containerSize)) return false;
  if (sig.fileName !== undefined && (m.name === undefined || !sig.fileName.test(m.name))) return false;
  if (!inRange(sig.sizeInContainer, m.sizeInContainer)) return false;
  if (!inRange(sig.sizeReal, m.sizeReal)) return false;
  if (sig.encrypted !== undefined && sig.encrypted !== (m.encrypted ?? false)) return false;
  return inRange(sig.filePos, m.filePos);
}
