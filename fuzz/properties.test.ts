/**
 * Property tests (fast-check) for parsers whose inputs have structure the byte mutator rarely
 * builds: the answer must not depend on how the bytes were chunked, and what a writer makes its
 * reader takes back unchanged.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { MultipartReader, MultipartError } from "@vigil/daemon";
import { readTar, writeTar } from "@vigil/updates";
import { generateKey, openNote, signNote, NoteError } from "@vigil/tlog";
import { parseNdbLine, ClamavError, SignatureSyntaxError } from "@vigil/clamav";

function readParts(body: Buffer, cuts: number[]): Array<{ name?: string; filename?: string; data: string }> | "error" {
  const parts: Array<{ name?: string; filename?: string; data: string }> = [];
  let cur: Buffer[] = [];
  const r = new MultipartReader("b0und", {
    partStart(h) {
      parts.push({
        ...(h.name !== undefined ? { name: h.name } : {}),
        ...(h.filename !== undefined ? { filename: h.filename } : {}),
        data: "",
      });
      cur = [];
    },
    partData(c) {
      cur.push(Buffer.from(c));
    },
    partEnd() {
      parts[parts.length - 1]!.data = Buffer.concat(cur).toString("latin1");
    },
  });
  const at = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  try {
    for (const c of [...at, body.length]) {
      if (c > prev) r.write(body.subarray(prev, c));
      prev = Math.max(prev, c);
    }
    r.end();
  } catch (e) {
    if (e instanceof MultipartError) return "error";
    throw e;
  }
  return parts;
}

describe("properties", () => {
  test("multipart: the parts read do not depend on where the bytes were split", () => {
    const content = fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString("latin1"));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), content), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (parts, cuts) => {
          const body = Buffer.from(
            parts
              .map(
                ([n, d]) =>
                  `--b0und\r\nContent-Disposition: form-data; name="${n}"; filename="${n}.bin"\r\n\r\n${d}\r\n`,
              )
              .join("") + "--b0und--\r\n",
            "latin1",
          );
          const whole = readParts(body, []);
          const split = readParts(body, cuts);
          expect(split).toEqual(whole);
          // a body whose content happens to contain the delimiter is cut there, like any reader would
          if (!parts.some(([, d]) => d.includes("\r\n--b0und")))
            expect(whole).toEqual(parts.map(([n, d]) => ({ name: n, filename: `${n}.bin`, data: d })));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("updates tar: readTar(writeTar(files)) gives the files back", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_/-]{0,60}[a-z0-9]$/), fc.uint8Array({ maxLength: 2000 })),
          { selector: (x) => x[0], maxLength: 6 },
        ),
        (files) => {
          const back = readTar(writeTar(files.map(([name, data]) => ({ name, data }))));
          expect(back.map((f) => [f.name, Buffer.from(f.data).toString("hex")])).toEqual(
            files.map(([n, d]) => [n, Buffer.from(d).toString("hex")]),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  const key = generateKey("vigil-prop");
  test("tlog notes: a signed note opens with its key; one changed text byte makes it refused", () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[ -~]{0,40}$/), { minLength: 1, maxLength: 5 }),
        fc.nat(),
        (lines, at) => {
          const text = lines.join("\n") + "\n";
          fc.pre(!text.includes("\n\n"));
          const signed = signNote(text, key.signerKey);
          expect(openNote(signed, [key.verifierKey]).text).toBe(text);
          const i = at % (text.length - 1);
          const flipped = text.slice(0, i) + (text[i] === "a" ? "b" : "a") + signed.slice(i + 1);
          expect(() => openNote(flipped, [key.verifierKey])).toThrow(NoteError);
        },
      ),
      { numRuns: 100 },
    );
  });

  test("ClamAV .ndb lines: any text parses or is refused with the package's errors", () => {
    const field = fc.oneof(
      fc.constantFrom("0", "1", "*", "EP+0", "EOF-10", "41424344", "4142??{2-3}(43|44)", "51", ""),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(field, { maxLength: 7 }), (fields) => {
        try {
          parseNdbLine(fields.join(":"));
        } catch (e) {
          if (!(e instanceof ClamavError || e instanceof SignatureSyntaxError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
