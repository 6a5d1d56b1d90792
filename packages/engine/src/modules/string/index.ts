/**
 * The `string` module (YARA 4.3+): string.to_int(s [, base]) converts like C's strtoll (base 0
 * detects 0x and 0 prefixes; leading spaces and a sign allowed; undefined when no digit
 * converts, when bytes are left after the number (as YARA 4.5 checks) or when the value
 * overflows int64), string.length(s) counts bytes.
 */
import { fn, overloads, struct, type YaraModule } from "../schema.js";

function toInt(s: string, base: number): number | bigint | undefined {
  if (base !== 0 && (base < 2 || base > 36)) return undefined;
  let i = 0;
  while (i < s.length && /[ \t\n\v\f\r]/.test(s[i]!)) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  if (
    (base === 0 || base === 16) &&
    s[i] === "0" &&
    (s[i + 1] === "x" || s[i + 1] === "X") &&
    /[0-9a-fA-F]/.test(s[i + 2] ?? "")
  ) {
    i += 2;
    base = 16;
  } else if (base === 0 && s[i] === "0") base = 8;
  else if (base === 0) base = 10;
  let v = 0n,
    digits = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : c >= 65 && c <= 90 ? c - 55 : 99;
    if (d >= base) break;
    v = v * BigInt(base) + BigInt(d);
    digits++;
    if (v > 0x8000000000000000n) return undefined;
  }
  if (digits === 0) return undefined;
  // YARA 4.5: the whole (C) string must convert; "10A20" is undefined
  if (i < s.length && s[i] !== "\0") return undefined;
  if (neg) v = -v;
  if (v > 0x7fffffffffffffffn || v < -0x8000000000000000n) return undefined;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

export const stringModule: YaraModule = {
  name: "string",
  declarations: struct({
    to_int: overloads(
      ["s", "integer", (_s, _c, a: string) => toInt(a, 0)],
      ["si", "integer", (_s, _c, a: string, base: number | bigint) => toInt(a, Number(base))],
    ),
    length: fn("s", "integer", (_s, _c, a: string) => a.length),
  }),
  load: () => ({}),
};
