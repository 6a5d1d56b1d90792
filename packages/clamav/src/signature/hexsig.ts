/**
 * ClamAV body-signature hex syntax -> a small AST -> YARA pattern text.
 *
 * Parsed forms: bytes, `??`, `a?`/`?a` nibbles, `*`, `{n}`, `{-n}`, `{n-}`, `{n-m}`, the older
 * `[n-m]`, `(aa|bb)` single-byte, fixed-length and generic alternatives, `!(...)` negation, and the
 * `(B)`, `(L)`, `(W)` markers (negatable). Emitted as a YARA hex string when no modifier needs a
 * text form, else as a YARA regular expression (for `::i`, `::w`, `::f`). Markers at either end of
 * the signature become predicates on the bytes around a match (`edges`); markers in the middle
 * become byte alternatives, as ClamAV consumes a byte for them.
 */

export type HexNode =
  | { kind: "byte"; value: number; mask: number } // mask 0xff exact, 0xf0 high nibble, 0x0f low nibble, 0 any
  | { kind: "jump"; min: number; max: number | undefined; bracket?: true }
  | { kind: "alt"; negated: boolean; alternatives: HexNode[][] }
  | { kind: "set"; bytes: number[] } // one byte out of a set (from negations and markers)
  | { kind: "marker"; marker: "B" | "L" | "W"; negated: boolean };

export class HexSyntaxError extends Error {}

const isHex = (c: string) => (c >= "0" && c <= "9") || (c >= "a" && c <= "f") || (c >= "A" && c <= "F");

/** Parses a ClamAV hex signature body (the part after the offset). */
export function parseHexSignature(src: string): HexNode[] {
  let i = 0;
  const parseSeq = (inAlt: boolean): HexNode[] => {
    const out: HexNode[] = [];
    while (i < src.length) {
      const c = src[i]!;
      if (inAlt && (c === "|" || c === ")")) break;
      if (c === "*") {
        out.push({ kind: "jump", min: 0, max: undefined });
        i++;
      } else if (c === "{") {
        const end = src.indexOf("}", i);
        if (end < 0) throw new HexSyntaxError(`unterminated '{' at ${i}`);
        const body = src.slice(i + 1, end);
        let m: RegExpMatchArray | null;
        if ((m = body.match(/^(\d+)$/))) out.push({ kind: "jump", min: +m[1]!, max: +m[1]! });
        else if ((m = body.match(/^-(\d+)$/))) out.push({ kind: "jump", min: 0, max: +m[1]! });
        else if ((m = body.match(/^(\d+)-$/))) out.push({ kind: "jump", min: +m[1]!, max: undefined });
        else if ((m = body.match(/^(\d+)-(\d+)$/))) {
          if (+m[2]! < +m[1]!) throw new HexSyntaxError(`jump {${body}} has max below min`);
          out.push({ kind: "jump", min: +m[1]!, max: +m[2]! });
        } else if (body === "*" || body === "-") out.push({ kind: "jump", min: 0, max: undefined });
        else throw new HexSyntaxError(`bad jump {${body}}`);
        i = end + 1;
      } else if (c === "[") {
        const end = src.indexOf("]", i);
        const m = end < 0 ? null : src.slice(i + 1, end).match(/^(\d+)-(\d+)$/);
        if (!m || +m[2]! < +m[1]!)
          throw new HexSyntaxError(`bad range [${end < 0 ? src.slice(i + 1) : src.slice(i + 1, end)}]`);
        if (+m[2]! > 32) throw new HexSyntaxError(`range [${m[1]}-${m[2]}] may span at most 32 bytes`);
        out.push({ kind: "jump", min: +m[1]!, max: +m[2]!, bracket: true });
        i = end + 1;
      } else if (c === "!" || c === "(") {
        const negated = c === "!";
        if (negated) {
          i++;
          if (src[i] !== "(") throw new HexSyntaxError(`'!' must be followed by '(' at ${i}`);
        }
        const close = src.indexOf(")", i);
        const inner = close < 0 ? "" : src.slice(i + 1, close);
        if (inner === "B" || inner === "L" || inner === "W") {
          out.push({ kind: "marker", marker: inner, negated });
          i = close + 1;
          continue;
        }
        i++;
        const alternatives: HexNode[][] = [];
        for (;;) {
          alternatives.push(parseSeq(true));
          if (src[i] === "|") {
            i++;
            continue;
          }
          if (src[i] === ")") {
            i++;
            break;
          }
          throw new HexSyntaxError("unterminated '(' alternative");
        }
        if (alternatives.some((a) => a.length === 0)) throw new HexSyntaxError("empty alternative");
        if (alternatives.some((a) => a.some((n) => n.kind === "jump" && n.min !== n.max)))
          throw new HexSyntaxError(
            "an alternative may not hold a ranged wildcard (clamscan: Alternative match contains unsupported ranged wildcard)",
          );
        out.push({ kind: "alt", negated, alternatives });
      } else {
        const d = src[i + 1];
        if (d === undefined) throw new HexSyntaxError("odd number of hex digits");
        if (c === "?" && d === "?") out.push({ kind: "byte", value: 0, mask: 0 });
        else if (c === "?" && isHex(d)) out.push({ kind: "byte", value: parseInt(d, 16), mask: 0x0f });
        else if (isHex(c) && d === "?") out.push({ kind: "byte", value: parseInt(c, 16) << 4, mask: 0xf0 });
        else if (isHex(c) && isHex(d)) out.push({ kind: "byte", value: parseInt(c + d, 16), mask: 0xff });
        else throw new HexSyntaxError(`unexpected '${c}${d}' at ${i}`);
        i += 2;
      }
    }
    return out;
  };
  const nodes = parseSeq(false);
  if (i !== src.length) throw new HexSyntaxError(`unexpected '${src[i]}' at ${i}`);
  if (nodes.length === 0) throw new HexSyntaxError("empty signature");
  // the older [n-m] form binds one byte at the very start or end to the rest
  nodes.forEach((n, k) => {
    if (n.kind !== "jump" || !n.bracket) return;
    const single = (x: HexNode | undefined) => x !== undefined && x.kind === "byte";
    const atStart = k === 1 && single(nodes[0]);
    const atEnd = k === nodes.length - 2 && single(nodes[nodes.length - 1]);
    if (!atStart && !atEnd)
      throw new HexSyntaxError(
        "[n-m] needs exactly one byte before it at the start of the signature, or after it at the end",
      );
  });
  return nodes;
}

// byte classes of ClamAV's matcher
const LEFT_BOUNDARY = [0x20, 0x2d, 0x2e, 0x2f, 0x3c, 0x40, 0x5f];
const RIGHT_BOUNDARY = [0x0a, 0x0d, 0x20, 0x22, 0x27, 0x2d, 0x2f, 0x3d, 0x3e, 0x5f];
const isAlnum = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const range = (n: number) => Array.from({ length: n }, (_, k) => k);
const BOUNDARY_BYTES = range(256).filter((b) =>
  [0x0a, 0x0d, 0x20, 0x22, 0x27, 0x2d, 0x2e, 0x2f, 0x3c, 0x3d, 0x3e, 0x40, 0x5f].includes(b),
);

/** A translated pattern: the YARA string body, whether it is hex or regex, and predicates on the match's surroundings. */
export interface PatternText {
  /** `{ ... }` hex string, `"..."` text or `/.../` regex, without modifiers. */
  text: string;
  form: "hex" | "text" | "regex";
  /** conditions over `OFF` (match offset) and `END` (offset after the match), to be substituted. */
  edges: string[];
  /** forms translated approximately, with why. */
  approximations: string[];
}

const hx = (b: number) => b.toString(16).toUpperCase().padStart(2, "0");

function setToAlt(bytes: number[]): HexNode {
  return bytes.length === 1 ? { kind: "byte", value: bytes[0]!, mask: 0xff } : { kind: "set", bytes };
}

/** Sets larger than this are written as regex classes: YARA 4.2 rejects hex alternatives of ~250 bytes as too complex. */
const MAX_HEX_SET = 16;

export function needsRegex(nodes: HexNode[]): boolean {
  return nodes.some(
    (n) => (n.kind === "set" && n.bytes.length > MAX_HEX_SET) || (n.kind === "alt" && n.alternatives.some(needsRegex)),
  );
}

/** Replaces middle markers and negated alternatives by plain alternatives; collects edge predicates. */
function lower(nodes: HexNode[], approximations: string[]): { nodes: HexNode[]; edges: string[] } {
  const edges: string[] = [];
  const out: HexNode[] = [];
  nodes.forEach((n, idx) => {
    if (n.kind === "marker") {
      const first = idx === 0;
      const last = idx === nodes.length - 1;
      if (first || last) {
        edges.push(edgePredicate(n.marker, n.negated, first ? "left" : "right"));
        return;
      }
      let set: number[];
      if (n.marker === "B") set = BOUNDARY_BYTES;
      else if (n.marker === "W") set = range(256).filter((b) => !isAlnum(b));
      else {
        if (!n.negated) {
          out.push({
            kind: "alt",
            negated: false,
            alternatives: [
              [{ kind: "byte", value: 0x0a, mask: 0xff }],
              [
                { kind: "byte", value: 0x0d, mask: 0xff },
                { kind: "byte", value: 0x0a, mask: 0xff },
              ],
            ],
          });
          return;
        }
        approximations.push(
          "!(L) in the middle of a signature is matched as one byte other than CR and LF (ClamAV also accepts a CR not followed by LF)",
        );
        set = [0x0a, 0x0d];
        out.push(setToAlt(range(256).filter((b) => !set.includes(b))));
        return;
      }
      out.push(setToAlt(n.negated ? range(256).filter((b) => !set.includes(b)) : set));
      return;
    }
    if (n.kind === "alt") {
      const alts = n.alternatives.map((a) => lower(a, approximations).nodes);
      if (!n.negated) {
        out.push({ kind: "alt", negated: false, alternatives: alts });
        return;
      }
      out.push(negate(alts));
      return;
    }
    out.push(n);
  });
  return { nodes: out, edges };
}

/** The complement of a set of fixed-length byte strings, as alternatives of the same length. */
function negate(alts: HexNode[][]): HexNode {
  const strings: number[][] = alts.map((a) => {
    if (!a.every((n) => n.kind === "byte" && n.mask === 0xff))
      throw new HexSyntaxError("a negated alternative may only hold whole bytes");
    return a.map((n) => (n as { value: number }).value);
  });
  const len = strings[0]!.length;
  if (!strings.every((s) => s.length === len))
    throw new HexSyntaxError("negated alternatives must all have the same length");
  let budget = 20000;
  const comp = (set: number[][], depth: number): HexNode[][] => {
    if (depth === len) return [];
    const firsts = [...new Set(set.map((s) => s[depth]!))];
    const result: HexNode[][] = [];
    const others = range(256).filter((b) => !firsts.includes(b));
    budget -= others.length + firsts.length;
    if (budget < 0) throw new HexSyntaxError("negated alternative too large to expand");
    if (others.length > 0) {
      const rest: HexNode[] = range(len - depth - 1).map(() => ({ kind: "byte", value: 0, mask: 0 }));
      result.push([setToAlt(others), ...rest]);
    }
    for (const f of firsts) {
      const sub = comp(
        set.filter((s) => s[depth] === f),
        depth + 1,
      );
      for (const s of sub) result.push([{ kind: "byte", value: f, mask: 0xff }, ...s]);
    }
    return result;
  };
  const res = comp(strings, 0);
  if (res.length === 0) throw new HexSyntaxError("negated alternative excludes every byte");
  return res.length === 1 && res[0]!.length === 1 ? res[0]![0]! : { kind: "alt", negated: false, alternatives: res };
}

function edgePredicate(marker: "B" | "L" | "W", negated: boolean, side: "left" | "right"): string {
  const anyOf = (expr: string, set: number[]) => `(${set.map((b) => `${expr} == 0x${hx(b)}`).join(" or ")})`;
  const alnum = (expr: string) =>
    `((${expr} >= 0x30 and ${expr} <= 0x39) or (${expr} >= 0x41 and ${expr} <= 0x5A) or (${expr} >= 0x61 and ${expr} <= 0x7A))`;
  let p: string;
  if (side === "left") {
    const prev = "uint8(OFF - 1)";
    if (marker === "B") p = `(OFF == 0 or ${anyOf(prev, LEFT_BOUNDARY)})`;
    else if (marker === "L") p = `(OFF == 0 or ${prev} == 0x0A)`;
    else p = `(OFF == 0 or not ${alnum(prev)})`;
  } else {
    const next = "uint8(END)";
    if (marker === "B") p = `(END == filesize or ${anyOf(next, RIGHT_BOUNDARY)})`;
    else if (marker === "L")
      p = `(END == filesize or ${next} == 0x0A or (${next} == 0x0D and END + 1 < filesize and uint8(END + 1) == 0x0A))`;
    else p = `(END == filesize or not ${alnum(next)})`;
  }
  return negated ? `not ${p}` : p;
}

function hexText(nodes: HexNode[]): string {
  return nodes
    .map((n) => {
      switch (n.kind) {
        case "byte":
          return n.mask === 0xff
            ? hx(n.value)
            : n.mask === 0
              ? "??"
              : n.mask === 0xf0
                ? `${hx(n.value)[0]}?`
                : `?${hx(n.value)[1]}`;
        case "jump":
          if (n.max === undefined) return n.min === 0 ? "[-]" : `[${n.min}-]`;
          if (n.min === n.max) return n.min === 0 ? "" : `[${n.min}]`;
          return `[${n.min}-${n.max}]`;
        case "alt":
          return `( ${n.alternatives.map(hexText).join(" | ")} )`;
        case "set":
          return `( ${n.bytes.map(hx).join(" | ")} )`;
        case "marker":
          throw new HexSyntaxError("internal: marker left after lowering");
      }
    })
    .filter((s) => s !== "")
    .join(" ");
}

const reByte = (b: number) => `\\x${hx(b).toLowerCase()}`;

function regexText(nodes: HexNode[]): string {
  return nodes
    .map((n) => {
      switch (n.kind) {
        case "byte":
          if (n.mask === 0xff) return reByte(n.value);
          if (n.mask === 0) return "[\\x00-\\xff]";
          if (n.mask === 0xf0) return `[${reByte(n.value)}-${reByte(n.value | 0x0f)}]`;
          return `[${range(16)
            .map((h) => reByte((h << 4) | n.value))
            .join("")}]`;
        case "jump":
          if (n.max === undefined) return n.min === 0 ? "[\\x00-\\xff]*" : `[\\x00-\\xff]{${n.min},}`;
          if (n.min === n.max) return n.min === 0 ? "" : `[\\x00-\\xff]{${n.min}}`;
          return `[\\x00-\\xff]{${n.min},${n.max}}`;
        case "alt":
          return `(${n.alternatives.map(regexText).join("|")})`;
        case "set": {
          const parts: string[] = [];
          const b = [...n.bytes].sort((x, y) => x - y);
          for (let k = 0; k < b.length; ) {
            let e = k;
            while (e + 1 < b.length && b[e + 1] === b[e]! + 1) e++;
            parts.push(e === k ? reByte(b[k]!) : `${reByte(b[k]!)}-${reByte(b[e]!)}`);
            k = e + 1;
          }
          return `[${parts.join("")}]`;
        }
        case "marker":
          throw new HexSyntaxError("internal: marker left after lowering");
      }
    })
    .join("");
}

/**
 * Translates a parsed signature. `textual` asks for a text/regex form (needed for nocase, wide,
 * fullword modifiers). Leading and trailing jumps are dropped (YARA forbids them; they only widen
 * where a match may start or end, which ClamAV's offsets already bound).
 */
export function translateHex(nodes: HexNode[], textual: boolean): PatternText {
  const { body, edges, approximations } = prepareHex(nodes);
  if (!textual && !needsRegex(body)) return { text: `{ ${hexText(body)} }`, form: "hex", edges, approximations };
  if (body.every((n) => n.kind === "byte" && n.mask === 0xff)) {
    const s = body
      .map((n) => {
        const b = (n as { value: number }).value;
        return b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\x${hx(b).toLowerCase()}`;
      })
      .join("");
    return { text: `"${s}"`, form: "text", edges, approximations };
  }
  return { text: `/${regexText(body).replace(/\//g, "\\/")}/`, form: "regex", edges, approximations };
}

/**
 * The body a signature matches, as both translation and the native matcher (../stores/bodydb) use it:
 * middle markers and negations lowered to plain alternatives, end markers and the leading
 * `aa[x-y]` form turned into edge predicates (`edges`), leading and trailing jumps dropped.
 */
export function prepareHex(nodes: HexNode[]): { body: HexNode[]; edges: string[]; approximations: string[] } {
  const approximations: string[] = [];
  const prefixEdges: string[] = [];
  // `aa[x-y]REST`: ClamAV matches REST and then looks back for aa; offsets apply to REST's start
  const first = nodes[0];
  const second = nodes[1];
  if (first?.kind === "byte" && second?.kind === "jump" && second.bracket) {
    const test =
      first.mask === 0xff
        ? `uint8(OFF - k - 1) == 0x${hx(first.value)}`
        : `uint8(OFF - k - 1) & 0x${hx(first.mask)} == 0x${hx(first.value)}`;
    prefixEdges.push(`(for any k in (${second.min}..${second.max!}) : (OFF >= k + 1 and ${test}))`);
    nodes = nodes.slice(2);
  }
  const lowered = lower(nodes, approximations);
  lowered.edges.push(...prefixEdges);
  const body = lowered.nodes;
  while (body.length > 0 && body[0]!.kind === "jump") {
    approximations.push("a leading wildcard was dropped");
    body.shift();
  }
  while (body.length > 0 && body[body.length - 1]!.kind === "jump") {
    approximations.push("a trailing wildcard was dropped");
    body.pop();
  }
  if (body.length === 0) throw new HexSyntaxError("signature has no bytes to match");
  return { body, edges: lowered.edges, approximations };
}

/** Minimum and maximum byte length a node sequence can match (max undefined when unbounded). */
export function patternLength(nodes: HexNode[]): { min: number; max: number | undefined } {
  let min = 0;
  let max: number | undefined = 0;
  for (const n of nodes) {
    if (n.kind === "byte") {
      min++;
      if (max !== undefined) max++;
    } else if (n.kind === "jump") {
      min += n.min;
      max = max === undefined || n.max === undefined ? undefined : max + n.max;
    } else if (n.kind === "set") {
      min++;
      if (max !== undefined) max++;
    } else if (n.kind === "alt") {
      const ls = n.alternatives.map(patternLength);
      min += Math.min(...ls.map((l) => l.min));
      max =
        max === undefined || ls.some((l) => l.max === undefined) ? undefined : max + Math.max(...ls.map((l) => l.max!));
    }
  }
  return { min, max };
}
