/** The seeded generator of random rules and files used by the generated differential tests. */
const WORDS = [
  "evil",
  "Malware",
  "payload",
  "cmd.exe",
  "http",
  "GetProcAddress",
  "kernel32",
  "xor",
  "abc",
  "hello",
  "WORLD",
  "Dropper",
  "a1b2",
  "zz",
  "q",
];

export class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s, 1103515245) + 12345) >>> 0;
    return this.s >>> 8;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.int(1000) < p * 1000;
  }
}

const hex = (b: number) => b.toString(16).padStart(2, "0").toUpperCase();
const wide = (s: string) =>
  s
    .split("")
    .map((c) => c + "\0")
    .join("");
const esc = (s: string) => s.replace(/[\\"]/g, (c) => "\\" + c);
const reEsc = (s: string) => s.replace(/[.*+?()[\]{}|\\/^$]/g, (c) => "\\" + c);

export function makeFiles(r: Rng): Record<string, string> {
  const files: Record<string, string> = {};
  for (let f = 0; f < 8; f++) {
    let s = "";
    const len = 100 + r.int(1500);
    while (s.length < len) {
      const k = r.int(10);
      const w = r.pick(WORDS);
      if (k < 3) s += w + r.pick([" ", "\n", "_", "", "\0", "."]);
      else if (k < 4) s += wide(w);
      else if (k < 5) {
        const key = r.int(256);
        s += w
          .split("")
          .map((c) => String.fromCharCode(c.charCodeAt(0) ^ key))
          .join("");
      } else if (k < 6) s += Buffer.from(r.pick(["x", "xy", ""]) + w + " " + r.pick(WORDS)).toString("base64");
      else if (k < 7) s += w.toUpperCase();
      else for (let i = 0; i < 1 + r.int(20); i++) s += String.fromCharCode(r.int(256));
    }
    files[`f${f}.bin`] = s;
  }
  return files;
}

function textString(r: Rng): string {
  const w = r.pick(WORDS);
  const mods: string[] = [];
  const b64 = w.length >= 3 && r.chance(0.15);
  if (b64) mods.push(r.pick(["base64", "base64wide", "base64 base64wide"]));
  else {
    if (r.chance(0.3)) mods.push("wide");
    if (r.chance(0.2)) mods.push("ascii");
    const xor = r.chance(0.15);
    if (xor) mods.push(r.pick(["xor", "xor(1-255)", `xor(${r.int(100)}-${100 + r.int(155)})`]));
    else if (r.chance(0.3)) mods.push("nocase");
    if (r.chance(0.2)) mods.push("fullword");
  }
  if (r.chance(0.1)) mods.push("private");
  return `"${esc(w)}" ${mods.join(" ")}`;
}

function hexString(r: Rng): string {
  const w = r.pick(WORDS.filter((x) => x.length >= 3));
  const parts: string[] = [];
  for (let i = 0; i < w.length; i++) {
    const b = w.charCodeAt(i);
    const k = r.int(12);
    if (i > 0 && i < w.length - 1 && k === 0) parts.push("??");
    else if (i > 0 && k === 1) parts.push(hex(b)[0] + "?");
    else if (i > 0 && k === 2) parts.push("?" + hex(b)[1]);
    else if (i > 0 && i < w.length - 1 && k === 3) {
      parts.push(`[${r.int(2)}-${1 + r.int(3)}]`);
      parts.push(hex(b));
    } else if (i > 0 && k === 4) parts.push(`( ${hex(b)} | ${hex(b ^ 0x20)} )`);
    else parts.push(hex(b));
  }
  return `{ ${parts.join(" ")} }`;
}

function regexString(r: Rng): string {
  const w = r.pick(WORDS.filter((x) => x.length >= 3));
  let body = "";
  for (let i = 0; i < w.length; i++) {
    const c = w[i]!;
    const k = r.int(14);
    if (k === 0 && i > 0) body += ".";
    else if (k === 1 && /[a-z]/i.test(c)) body += `[${c.toLowerCase()}${c.toUpperCase()}]`;
    // optional quantifiers (?, *, {0,n}) are left out: yara 4.2.3 may take an atom from an
    // optional item (e.g. the x of /x?[a-z]./) and then misses the matches without it
    else if (k === 2) body += reEsc(c) + r.pick(["+", "{1,2}", "{2}"]);
    else if (k === 3 && /[a-z]/.test(c)) body += "[a-z]";
    else if (k === 4 && /[0-9]/.test(c)) body += "\\d";
    else body += reEsc(c);
  }
  // the second alternative starts with another letter: when alternatives share their atom,
  // yara 4.2.3 reports whichever branch it verified first at an offset, not the leftmost-first one
  if (r.chance(0.15)) {
    const other = r.pick(WORDS.filter((x) => x[0]!.toLowerCase() !== w[0]!.toLowerCase()));
    body = `(${body}|${reEsc(other)})`;
  }
  const flags = r.chance(0.2) ? "i" : "";
  const mods: string[] = [];
  // "wide ascii" together is left out for regexes: yara tries the wide form only where the
  // ascii form failed at the same atom, so it misses some wide matches
  if (r.chance(0.2)) mods.push(r.pick(["wide", "ascii"]));
  if (r.chance(0.15)) mods.push("fullword");
  if (r.chance(0.1) && !flags) mods.push("nocase");
  return `/${body}/${flags} ${mods.join(" ")}`;
}

function condition(r: Rng, ids: string[]): string {
  const atom = (): string => {
    const id = r.pick(ids);
    const n = id.slice(1);
    switch (r.int(16)) {
      case 0:
        return `#${n} > ${r.int(3)}`;
      case 1:
        return `@${n}[1] < ${r.int(800)}`;
      case 2:
        return `$${n} in (${r.int(300)}..${300 + r.int(1200)})`;
      case 3:
        return `any of them`;
      case 4:
        return `${1 + r.int(ids.length)} of them`;
      case 5:
        return `for any i in (1..#${n}) : ( @${n}[i] % ${2 + r.int(5)} == 0 )`;
      case 6:
        return `!${n}[1] >= ${r.int(12)}`;
      case 7:
        return `filesize > ${r.int(1500)}`;
      case 8:
        return `none of them`;
      case 9:
        return `#${n} in (0..${r.int(1000)}) >= 1`;
      case 10:
        return `@${n}[${1 + r.int(3)}] > ${r.int(900)}`;
      case 11:
        return `for all of them : ( # >= ${r.int(2)} )`;
      case 12:
        return `$${n} at ${r.int(400)}`;
      case 13:
        return `not (!${n}[2] == ${r.int(10)})`;
      case 14:
        return `uint8(@${n}[1] + ${r.int(4)}) < ${r.int(256)}`;
      default:
        return `$${n}`;
    }
  };
  let c = atom();
  for (let k = r.int(3); k > 0; k--) c = `${r.chance(0.2) ? "not " : ""}(${c}) ${r.pick(["and", "or"])} ${atom()}`;
  // every string must be referenced (YARA rejects unreferenced strings)
  return `(${c}) or (any of them and filesize < 0)`;
}

export function makeRules(r: Rng, count: number): string {
  const rules: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + r.int(3);
    const defs: string[] = [];
    const ids: string[] = [];
    for (let k = 0; k < n; k++) {
      const kind = r.int(3);
      const def = kind === 0 ? textString(r) : kind === 1 ? hexString(r) : regexString(r);
      ids.push(`$s${k}`);
      defs.push(`$s${k} = ${def}`);
    }
    rules.push(`rule g${i} { strings: ${defs.join(" ")} condition: ${condition(r, ids)} }`);
  }
  return rules.join("\n") + "\n";
}
