/**
 * A streaming multipart/form-data reader (RFC 7578 over RFC 2046): bytes go in as they arrive
 * from the socket; each part's headers and body bytes come out through callbacks, with only a
 * delimiter's length of bytes held back between chunks. Malformed input throws a MultipartError
 * (the HTTP layer answers 400).
 */
export class MultipartError extends Error {}

export interface PartHeaders {
  /** The form field name. */
  name?: string;
  filename?: string;
  contentType?: string;
}

export interface MultipartHandler {
  partStart(h: PartHeaders): void;
  partData(chunk: Buffer): void;
  partEnd(): void;
}

const MAX_HEADER = 16 * 1024;
/** Longest run of transport padding (spaces, tabs) after a boundary (a line's worth: RFC 5322 allows 998). */
const MAX_PADDING = 1024;

/** The boundary parameter of a multipart/form-data Content-Type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

function param(value: string, key: string): string | undefined {
  const re = new RegExp(`;\\s*${key}\\*?=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;]*))`, "i");
  const m = re.exec(value);
  if (!m) return undefined;
  if (m[1] !== undefined) return m[1].replace(/\\(.)/g, "$1");
  const raw = m[2]!.trim();
  const ext = /^utf-8''(.*)$/i.exec(raw);
  if (ext) {
    try {
      return decodeURIComponent(ext[1]!);
    } catch {
      return raw;
    }
  }
  return raw;
}

export class MultipartReader {
  private readonly delim: Buffer;
  private carry: Buffer = Buffer.from("\r\n");
  private state: "preamble" | "after" | "headers" | "body" | "done" = "preamble";
  parts = 0;

  constructor(
    boundary: string,
    private readonly h: MultipartHandler,
  ) {
    this.delim = Buffer.from(`\r\n--${boundary}`, "latin1");
  }

  get done(): boolean {
    return this.state === "done";
  }

  write(chunk: Buffer): void {
    let buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    for (;;) {
      switch (this.state) {
        case "done":
          return; // the epilogue is ignored
        case "preamble": {
          const i = buf.indexOf(this.delim);
          if (i < 0) {
            this.keep(buf, this.delim.length - 1);
            return;
          }
          buf = buf.subarray(i + this.delim.length);
          this.state = "after";
          break;
        }
        case "after": {
          if (buf.length < 2) {
            this.carry = Buffer.from(buf);
            return;
          }
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            this.state = "done";
            return;
          }
          // transport padding (spaces, tabs) may precede the CRLF
          let j = 0;
          while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
          if (j > MAX_PADDING)
            throw new MultipartError(
              `malformed multipart body: more than ${MAX_PADDING} bytes of padding after a boundary`,
            );
          if (j + 2 > buf.length) {
            this.carry = Buffer.from(buf);
            return;
          }
          if (buf[j] !== 0x0d || buf[j + 1] !== 0x0a)
            throw new MultipartError("malformed multipart body: a boundary line is not followed by CRLF");
          buf = buf.subarray(j + 2);
          this.state = "headers";
          break;
        }
        case "headers": {
          const i = buf.indexOf("\r\n\r\n");
          const blank = buf.subarray(0, 2).equals(Buffer.from("\r\n"));
          if (i < 0 && !blank) {
            if (buf.length > MAX_HEADER)
              throw new MultipartError(`multipart part headers longer than ${MAX_HEADER} bytes`);
            this.carry = Buffer.from(buf);
            return;
          }
          const end = blank ? 0 : i;
          if (end > MAX_HEADER) throw new MultipartError(`multipart part headers longer than ${MAX_HEADER} bytes`);
          this.h.partStart(this.parseHeaders(buf.subarray(0, end).toString("utf8")));
          this.parts++;
          buf = buf.subarray(end + (blank ? 2 : 4));
          this.state = "body";
          break;
        }
        case "body": {
          const i = buf.indexOf(this.delim);
          if (i < 0) {
            const keep = Math.min(buf.length, this.delim.length - 1);
            if (buf.length > keep) this.h.partData(buf.subarray(0, buf.length - keep));
            this.carry = Buffer.from(buf.subarray(buf.length - keep));
            return;
          }
          if (i > 0) this.h.partData(buf.subarray(0, i));
          this.h.partEnd();
          buf = buf.subarray(i + this.delim.length);
          this.state = "after";
          break;
        }
      }
    }
  }

  /** Call at the end of the body: throws if the closing boundary never came. */
  end(): void {
    if (this.state !== "done")
      throw new MultipartError("multipart body ended before its closing boundary (truncated upload?)");
  }

  private keep(buf: Buffer, n: number): void {
    this.carry = Buffer.from(buf.subarray(Math.max(0, buf.length - n)));
  }

  private parseHeaders(text: string): PartHeaders {
    const out: PartHeaders = {};
    for (const line of text.split("\r\n")) {
      const c = line.indexOf(":");
      if (c < 0) continue;
      const key = line.slice(0, c).trim().toLowerCase();
      const value = line.slice(c + 1).trim();
      if (key === "content-disposition") {
        const name = param(value, "name");
        const filename = param(value, "filename");
        if (name !== undefined) out.name = name;
        if (filename !== undefined) out.filename = filename;
      } else if (key === "content-type") out.contentType = value;
    }
    return out;
  }
}
