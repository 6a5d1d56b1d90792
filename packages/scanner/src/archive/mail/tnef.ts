/**
 * TNEF (Transport Neutral Encapsulation Format, `winmail.dat`, MS-OXTNEF): the signature
 * 0x223E9F78, a 16-bit key, then attributes (level, id, length, data, 16-bit checksum). Each
 * attachment (started by attAttachRendData) is a member: its data from attAttachData, or from
 * the PR_ATTACH_DATA_OBJ property of its attAttachment MAPI properties; its name from
 * PR_ATTACH_LONG_FILENAME, else attAttachTitle, else its number. The message body (attBody,
 * and the PR_BODY / PR_BODY_HTML MAPI properties, and PR_RTF_COMPRESSED decompressed by
 * ./lzfu.ts) is a member too. Data are views into the
 * file, never copies. Checksums are not verified (ClamAV does not, and its own test file
 * fails them); an attribute running past the end of the file is reported with the bytes that
 * are there.
 */
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "../types.js";
import { decodeLzfu } from "./lzfu.js";

export const TNEF_SIGNATURE = 0x223e9f78;

export function isTnef(b: Uint8Array): boolean {
  return b.length >= 6 && b[0] === 0x78 && b[1] === 0x9f && b[2] === 0x3e && b[3] === 0x22;
}

const LVL_MESSAGE = 1;
const LVL_ATTACHMENT = 2;
const ATT_BODY = 0x800c;
const ATT_ATTACH_DATA = 0x800f;
const ATT_ATTACH_TITLE = 0x8010;
const ATT_ATTACH_REND_DATA = 0x9002;
const ATT_MAPI_PROPS = 0x9003;
const ATT_ATTACHMENT = 0x9005;

const PR_BODY = 0x1000;
const PR_BODY_HTML = 0x1013;
const PR_RTF_COMPRESSED = 0x1009;
const PR_ATTACH_DATA_OBJ = 0x3701;
const PR_ATTACH_FILENAME = 0x3704;
const PR_ATTACH_LONG_FILENAME = 0x3707;

interface Prop {
  id: number;
  type: number;
  value: Uint8Array;
}

/** Sizes of the fixed-length property types (PT_I2 and PT_BOOLEAN are padded to 4). */
const FIXED = new Map<number, number>([
  [0x0001, 0], // PT_NULL
  [0x0002, 4], // PT_I2
  [0x0003, 4], // PT_LONG
  [0x0004, 4], // PT_FLOAT
  [0x0005, 8], // PT_DOUBLE
  [0x0006, 8], // PT_CURRENCY
  [0x0007, 8], // PT_APPTIME
  [0x000a, 4], // PT_ERROR
  [0x000b, 4], // PT_BOOLEAN
  [0x0014, 8], // PT_I8
  [0x0040, 8], // PT_SYSTIME
  [0x0048, 16], // PT_CLSID
]);

/**
 * The MAPI properties in an attMAPIProps/attAttachment value (MS-OXTNEF 2.1.3.5), as views.
 * Stops quietly at the first malformed property: what was read before it is kept.
 */
function mapiProps(d: Uint8Array): { props: Prop[]; error?: string } {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const props: Prop[] = [];
  if (d.length < 4) return { props, error: "MAPI property list cut short" };
  const count = v.getUint32(0, true);
  let p = 4;
  const fail = (what: string) => ({ props, error: `MAPI property ${props.length + 1} of ${count}: ${what}` });
  for (let i = 0; i < count; i++) {
    if (p + 4 > d.length) return fail("cut short");
    const type = v.getUint16(p, true);
    const id = v.getUint16(p + 2, true);
    p += 4;
    if (id >= 0x8000) {
      // named property: GUID, kind, then an id or a UTF-16 name
      if (p + 20 > d.length) return fail("cut short");
      const kind = v.getUint32(p + 16, true);
      p += 20;
      if (kind === 0) p += 4;
      else {
        if (p + 4 > d.length) return fail("cut short");
        const len = v.getUint32(p, true);
        p += 4 + len + ((4 - (len % 4)) % 4);
      }
    }
    const multi = (type & 0x1000) !== 0;
    const base = type & 0x0fff;
    const fixed = FIXED.get(base);
    let values = 1;
    if (multi || fixed === undefined) {
      if (p + 4 > d.length) return fail("cut short");
      values = v.getUint32(p, true);
      p += 4;
    }
    if (values > d.length) return fail(`bad value count ${values}`);
    for (let k = 0; k < values; k++) {
      if (fixed !== undefined) {
        if (p + fixed > d.length) return fail("cut short");
        props.push({ id, type: base, value: d.subarray(p, p + fixed) });
        p += fixed;
        continue;
      }
      if (base !== 0x001e && base !== 0x001f && base !== 0x0102 && base !== 0x000d)
        return fail(`unknown property type 0x${base.toString(16)}`);
      if (p + 4 > d.length) return fail("cut short");
      const len = v.getUint32(p, true);
      p += 4;
      if (len > d.length - p) return fail(`value length ${len} runs past the attribute`);
      props.push({ id, type: base, value: d.subarray(p, p + len) });
      p += len + ((4 - (len % 4)) % 4);
    }
  }
  return { props };
}

function text(p: Prop): string {
  const s = Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength).toString(
    p.type === 0x001f ? "utf16le" : "latin1",
  );
  const nul = s.indexOf("\0");
  return nul >= 0 ? s.slice(0, nul) : s;
}

function damaged(message: string): Member {
  return { name: "", compressedSize: 0, problem: { reason: "corrupt-archive", message: `TNEF ${message}` } };
}

interface Attachment {
  title?: string;
  longName?: string;
  data?: Uint8Array;
  object?: Uint8Array;
  size: number;
}

export function* readTnef(b: Uint8Array, cap: OutputCap): Generator<Member> {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 6;
  let current: Attachment | undefined;
  let count = 0;
  const flush = function* (): Generator<Member> {
    const a = current;
    current = undefined;
    if (!a) return;
    count++;
    const data = a.data ?? a.object;
    if (!data) return;
    const name = cleanName((a.longName || a.title || `attachment-${count}`).slice(0, 1024));
    yield { name, compressedSize: data.length, data };
  };
  const bodies: Member[] = [];
  while (p < b.length) {
    if (p + 9 > b.length) {
      // ClamAV and the tnef tool ignore a trailing line break (broken quoted-printable)
      if (b.subarray(p).every((c) => c === 0x0a || c === 0x0d || c === 0)) break;
      yield* flush();
      yield {
        name: "",
        compressedSize: 0,
        problem: { reason: "corrupt-archive", message: `TNEF attribute header cut short at offset ${p} (truncated)` },
      };
      return;
    }
    const level = b[p]!;
    const tag = v.getUint16(p + 1, true);
    const len = v.getUint32(p + 5, true);
    const start = p + 9;
    if (level !== LVL_MESSAGE && level !== LVL_ATTACHMENT) {
      yield* flush();
      yield {
        name: "",
        compressedSize: 0,
        problem: { reason: "corrupt-archive", message: `bad TNEF attribute level ${level} at offset ${p}` },
      };
      return;
    }
    const cut = start + len > b.length;
    const data = b.subarray(start, Math.min(start + len, b.length));
    if (level === LVL_ATTACHMENT) {
      if (tag === ATT_ATTACH_REND_DATA || !current) {
        yield* flush();
        current = { size: 0 };
      }
      current.size += len;
      if (tag === ATT_ATTACH_TITLE) current.title = text({ id: 0, type: 0x1e, value: data });
      else if (tag === ATT_ATTACH_DATA) current.data = data;
      else if (tag === ATT_ATTACHMENT) {
        const list = mapiProps(data);
        if (list.error) bodies.push(damaged(`attachment properties at offset ${p}: ${list.error}`));
        for (const prop of list.props) {
          if (prop.id === PR_ATTACH_LONG_FILENAME && (prop.type === 0x1e || prop.type === 0x1f))
            current.longName = text(prop);
          else if (prop.id === PR_ATTACH_FILENAME && !current.longName && (prop.type === 0x1e || prop.type === 0x1f))
            current.longName = text(prop);
          else if (prop.id === PR_ATTACH_DATA_OBJ)
            // PT_OBJECT starts with the interface's GUID
            current.object = prop.type === 0x000d ? prop.value.subarray(Math.min(16, prop.value.length)) : prop.value;
        }
      }
    } else if (tag === ATT_BODY && data.length) {
      bodies.push({ name: "body.txt", compressedSize: data.length, data });
    } else if (tag === ATT_MAPI_PROPS) {
      const list = mapiProps(data);
      if (list.error) bodies.push(damaged(`message properties at offset ${p}: ${list.error}`));
      for (const prop of list.props) {
        if (prop.id === PR_BODY_HTML && prop.value.length)
          bodies.push({ name: "body.html", compressedSize: prop.value.length, data: prop.value });
        else if (prop.id === PR_BODY && prop.value.length && (prop.type === 0x1e || prop.type === 0x1f))
          bodies.push({ name: "body.txt", compressedSize: prop.value.length, data: prop.value });
        else if (prop.id === PR_RTF_COMPRESSED && prop.value.length) {
          const limit = cap(prop.value.length);
          try {
            const r = decodeLzfu(prop.value, limit);
            const m: Member = { name: "body.rtf", compressedSize: prop.value.length, data: r.data };
            bodies.push(r.error ? { ...m, problem: { reason: "corrupt-archive", message: r.error } } : m);
          } catch (err) {
            if (!(err instanceof OutputLimit)) throw err;
            bodies.push(overLimit("body.rtf", prop.value.length, limit));
          }
        }
      }
    }
    if (cut) {
      yield* flush();
      yield* bodies;
      yield {
        name: "",
        compressedSize: 0,
        problem: {
          reason: "corrupt-archive",
          message: `TNEF attribute 0x${tag.toString(16)} at offset ${p} runs past the end of the file (truncated: ${data.length} of ${len} bytes)`,
        },
      };
      return;
    }
    p = start + len + 2;
  }
  yield* flush();
  yield* bodies;
}
