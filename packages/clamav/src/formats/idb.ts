/**
 * `.idb` icon signatures: `ICONNAME:GROUP1:GROUP2:ICON_HASH`, the hash 124 hex digits (size,
 * colour and grey points, bright/dark/edge/non-edge points, colour summary). Parsed, checked
 * as ClamAV's loader checks them, and counted; the `.ldb` `IconGroup1/2` attributes refer to
 * the groups. Matching compares a PE's icon resources scaled to 16/24/32 px, which needs the
 * PE resource reader Vigil does not have yet: the loader says so.
 */

import { SignatureSyntaxError } from "../signature/fields.js";

export interface IdbSignature {
  name: string;
  group1: string;
  group2: string;
  /** 16, 24 or 32 */
  size: number;
  hash: string;
}

export function parseIdbLine(line: string): IdbSignature {
  const f = line.split(":");
  if (f.length !== 4) throw new SignatureSyntaxError("expected ICONNAME:GROUP1:GROUP2:ICON_HASH");
  const [name, group1, group2, hash] = f as [string, string, string, string];
  if (name === "" || group1 === "" || group2 === "") throw new SignatureSyntaxError("empty icon or group name");
  if (!/^[0-9a-fA-F]{124}$/.test(hash)) throw new SignatureSyntaxError("icon hash must be 124 hex digits");
  const hex = (at: number, n: number) => parseInt(hash.slice(at, at + n), 16);
  const size = ({ 16: 16, 24: 24, 32: 32 } as Record<number, number>)[hex(0, 2)];
  if (size === undefined) throw new SignatureSyntaxError("icon size must be 10, 18 or 20 (16, 24 or 32 px)");
  const limit = size - size / 8;
  let p = 2;
  for (let i = 0; i < 6; i++, p += 7) {
    if (hex(p, 3) > 4072) throw new SignatureSyntaxError("icon point average above 4072");
    if (hex(p + 3, 2) > limit || hex(p + 5, 2) > limit) throw new SignatureSyntaxError("icon point outside the icon");
  }
  for (let i = 0; i < 12; i++, p += 6)
    if (hex(p + 2, 2) > limit || hex(p + 4, 2) > limit) throw new SignatureSyntaxError("icon point outside the icon");
  if (hex(p, 2) + hex(p + 2, 2) + hex(p + 4, 2) > 103) throw new SignatureSyntaxError("icon colour summary above 103");
  if (hex(p + 6, 2) > 100) throw new SignatureSyntaxError("icon colour count above 100");
  return { name, group1, group2, size, hash: hash.toLowerCase() };
}
