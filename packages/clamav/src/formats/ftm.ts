/**
 * `.ftm` file-type magic: `magictype:offset:magicbytes:name:rtype:type[:minFL[:maxFL]]`.
 * Parsed and checked, never counted (as clamscan). Type 0 (and 4, partitions) compare bytes at
 * a decimal offset; type 1 is an `.ndb`-syntax body pattern that retypes content already typed
 * `rtype`; other magic types are skipped, as ClamAV does. The entries, with ClamAV's built-in
 * table, decide the file types target types select: ../filetype/typer.ts.
 */

import { parseOffset, SignatureSyntaxError } from "../signature/fields.js";
import { parseHexSignature } from "../signature/hexsig.js";
import { flevelExcludes } from "./flevel.js";

export interface FtmEntry {
  magicType: number;
  offset: string;
  magic: string;
  name: string;
  rtype: string;
  type: string;
}

const CL_TYPE = /^CL_TYPE_[A-Z0-9_]+$/;

export function parseFtmLine(line: string, flevel: number): FtmEntry | undefined {
  const f = line.split(":");
  if (f.length < 6 || f.length > 8)
    throw new SignatureSyntaxError("expected magictype:offset:magicbytes:name:rtype:type[:minFL[:maxFL]]");
  if (flevelExcludes(f[6], f[7], flevel)) return undefined;
  const [mt, offset, magic, name, rtype, type] = f as [string, string, string, string, string, string];
  if (!/^\d+$/.test(mt)) throw new SignatureSyntaxError(`bad magic type '${mt}'`);
  if (!CL_TYPE.test(rtype) || !CL_TYPE.test(type))
    throw new SignatureSyntaxError("rtype and type must be CL_TYPE_* names");
  const magicType = +mt;
  if (magicType === 0 || magicType === 4) {
    if (!/^\d+$/.test(offset)) throw new SignatureSyntaxError(`bad offset '${offset}' for magic type ${magicType}`);
    if (!/^([0-9a-fA-F]{2})+$/.test(magic)) throw new SignatureSyntaxError("magic bytes must be hex");
  } else if (magicType === 1) {
    parseOffset(offset);
    try {
      parseHexSignature(magic);
    } catch (e) {
      throw new SignatureSyntaxError(`bad magic pattern: ${(e as Error).message}`);
    }
  } else return undefined; // other magic types are skipped by ClamAV
  return { magicType, offset, magic: magic.toLowerCase(), name, rtype, type };
}
