/**
 * The `console` module: console.log(...) and console.hex(...) print a line through the scan's
 * log (yara prints it on stdout) and return true, so they can sit in a condition.
 */
import { overloads, struct, type ScanContext, type YaraModule } from "../schema.js";

/** Byte strings as yara prints them: printable ASCII as is, other bytes as \xNN. */
function printable(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    out += c >= 0x20 && c < 0x7f ? s[i] : "\\x" + c.toString(16).padStart(2, "0");
  }
  return out;
}
const hex = (v: number | bigint) => "0x" + BigInt.asUintN(64, BigInt(v)).toString(16);
const say = (ctx: ScanContext, text: string) => {
  ctx.log(text);
  return 1;
};

export const consoleModule: YaraModule = {
  name: "console",
  declarations: struct({
    log: overloads(
      ["s", "integer", (_s, ctx, a: string) => say(ctx, printable(a))],
      ["ss", "integer", (_s, ctx, a: string, b: string) => say(ctx, printable(a) + printable(b))],
      ["i", "integer", (_s, ctx, a: number | bigint) => say(ctx, String(a))],
      ["si", "integer", (_s, ctx, a: string, b: number | bigint) => say(ctx, printable(a) + String(b))],
      ["f", "integer", (_s, ctx, a: number) => say(ctx, a.toFixed(6))],
      ["sf", "integer", (_s, ctx, a: string, b: number) => say(ctx, printable(a) + b.toFixed(6))],
    ),
    hex: overloads(
      ["i", "integer", (_s, ctx, a: number | bigint) => say(ctx, hex(a))],
      ["si", "integer", (_s, ctx, a: string, b: number | bigint) => say(ctx, printable(a) + hex(b))],
    ),
  }),
  load: () => ({}),
};
