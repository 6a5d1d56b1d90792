/**
 * The fuzz targets: each feeds bytes to one parser of Vigil through its package's public API and
 * names the error classes a bad input may raise. Seeds come from fuzz/corpus/TARGET (written by
 * fuzz/make-corpus.ts); keys the seeds were signed with are in fuzz/corpus/keys.json (test keys).
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  builtinModules,
  compile,
  loadRules,
  CompileError,
  LoadError,
  ScanError,
  type ScanContext,
} from "@vigil/engine";
import {
  scanBytes,
  engineDetector,
  ScannerError,
  DetectorTimeoutError,
  type Detector,
  type Limits,
} from "@vigil/scanner";
import {
  ClamavError,
  SignatureSyntaxError,
  parseNdbLine,
  parseLdbLine,
  translateNdb,
  translateLdb,
  parseHashText,
  HashStoreBuilder,
  openContainer,
  readCdiff,
  applyCdiffScript,
  type TrustedKeys,
} from "@vigil/clamav";
import { Daemon, MultipartReader, MultipartError } from "@vigil/daemon";
import {
  TlogError,
  NoteError,
  openNote,
  parseCheckpoint,
  decodeHashTile,
  decodeEntryBundle,
  parseTlogProof,
} from "@vigil/tlog";
import { UpdateError, readTar, openBundle, parseManifest } from "@vigil/updates";
import { EICAR } from "@vigil/test-kit";
import type { Target } from "./harness.js";

export const FUZZ_DIR = import.meta.dirname;
export const CORPUS_DIR = join(FUZZ_DIR, "corpus");
export const CRASH_DIR = join(FUZZ_DIR, "crashes");

/** The committed seed corpus of a target (sorted by file name). */
export function corpusOf(name: string): Uint8Array[] {
  const dir = join(CORPUS_DIR, name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

interface Keys {
  noteVerifier: string;
  clamav: TrustedKeys;
}
let keyCache: Keys | undefined;
/** The test keys the seeds were signed with (fuzz/corpus/keys.json). */
function keys(): Keys {
  if (keyCache) return keyCache;
  const raw = JSON.parse(readFileSync(join(CORPUS_DIR, "keys.json"), "utf8")) as {
    noteVerifier: string;
    clamav: Record<string, Array<{ n: string; e: string }>>;
  };
  const clamav = Object.fromEntries(
    Object.entries(raw.clamav).map(([role, list]) => [
      role,
      list.map((x) => ({ n: BigInt("0x" + x.n), e: BigInt("0x" + x.e) })),
    ]),
  ) as unknown as TrustedKeys;
  return (keyCache = { noteVerifier: raw.noteVerifier, clamav });
}

const latin1 = (d: Uint8Array) => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("latin1");
const utf8 = (d: Uint8Array) => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("utf8");

type Spec = Omit<Target, "seeds" | "name"> & { seeds?: () => Uint8Array[] };
const targets = new Map<string, Target>();
function define(name: string, spec: Spec): void {
  targets.set(name, { name, seeds: () => corpusOf(name), ...spec });
}

// ---- the rule compiler ----

const YARA_WORDS = [
  "rule ",
  'import "pe"\n',
  'import "elf"\n',
  'import "math"\n',
  'import "hash"\n',
  "private ",
  "global ",
  "strings:",
  "condition:",
  "meta:",
  " and ",
  " or ",
  " not ",
  "$a",
  "#a",
  "@a[1]",
  "!a",
  " at ",
  " in ",
  "(0..filesize)",
  "filesize",
  "entrypoint",
  "uint32(0)",
  "int16be(2)",
  "any of them",
  "all of ($*)",
  "for any i in (1..3): ",
  "{ 4D 5A ?? [2-4] (01|02) ~00 }",
  "/ab+c[^x]{2,3}/is",
  '"text" wide ascii nocase fullword xor(1-3) base64',
  "\\x00",
  "0x7fffffffffffffff",
  "1KB",
  "1MB",
  "pe.number_of_sections",
  "math.entropy(0, filesize)",
  "hash.md5(0, filesize)",
  "matches",
  "contains",
  "icontains",
  "startswith",
  "defined ",
  "\n",
  "{",
  "}",
  "(",
  ")",
  '"',
  "/",
];
define("engine-compile", {
  about: "YARA rule text through compile(), then serialise/load and one scan of 64 bytes",
  allowed: [CompileError, LoadError, ScanError],
  maxLen: 4096,
  dictionary: YARA_WORDS,
  run(d) {
    const rules = compile(utf8(d));
    const again = loadRules(rules.serialize());
    again.scan(new Uint8Array(64).fill(0x41), { timeoutMs: 1000 });
  },
});

// ---- the module parsers ----

const MODULE_WORDS = [
  "MZ",
  "PE\0\0",
  "\x7fELF",
  "\xfe\xed\xfa\xce",
  "\xce\xfa\xed\xfe",
  "\xcf\xfa\xed\xfe",
  "\xca\xfe\xba\xbe",
  "dex\n035\0",
  "BSJB",
  "#~",
  "#Strings",
  "#US",
  "#GUID",
  "#Blob",
  ".text",
  ".rsrc",
  "\xff\xff\xff\xff",
  "\0\0\0\0",
  "\x01\0\0\0",
  "\x00\x10\0\0",
];
function context(data: Uint8Array): ScanContext {
  let text: string | undefined;
  return { data, text: () => (text ??= latin1(data)), cache: new Map(), log() {} };
}
for (const m of ["pe", "elf", "dotnet", "macho", "dex"]) {
  define(`module-${m}`, {
    about: `the ${m} module's load() (and entrypoint()) on the bytes; a module must never throw`,
    allowed: [],
    maxLen: 64 * 1024,
    dictionary: MODULE_WORDS,
    run(d) {
      const mod = builtinModules.get(m)!;
      const root = mod.load(context(d));
      mod.entrypoint?.(root);
    },
  });
}

// ---- the scanner's containers ----

let detector: Detector | undefined;
// small enough that a bomb costs milliseconds (a limit hit is a path like any other), large
// enough for every seed to decode whole
const SMALL: Limits = {
  maxFileSize: 1 << 20,
  maxScanSize: 512 * 1024,
  maxFiles: 64,
  maxRecursion: 4,
  maxRatio: 20,
  ratioFloor: 32 * 1024,
};
for (const kind of ["gzip", "bzip2", "xz", "tar", "zip", "cpio", "szdd", "sis", "zip-methods", "recognise"]) {
  define(`archive-${kind}`, {
    about: `scanBytes() on ${kind} containers (nested members too) with small limits`,
    allowed: [ScannerError, DetectorTimeoutError],
    maxLen: 64 * 1024,
    dictionary: [
      "\x1f\x8b\x08",
      "BZh9",
      "1AY&SY",
      "\x17rE8P\x90",
      "\xfd7zXZ\0",
      "YZ",
      "PK\x03\x04",
      "PK\x01\x02",
      "PK\x05\x06",
      "ustar\0",
      "ustar  \0",
      "00000000000\0",
      "././@LongLink",
      "x-vigil",
      "070701",
      "070707",
      "\xc7\x71",
      "TRAILER!!!\0",
      "SZDD\x88\xf0\x27\x33A",
      "\x19\x04\x00\x10",
      "\x12\x3a\x00\x10",
      "\x06\x00",
      "\x09\x00",
      "\xff\xff",
      "7z\xbc\xaf\x27\x1c",
      "%PDF-",
      "MZ",
      "PE\0\0",
      "UPX!",
      "From: ",
      "begin 644 ",
    ],
    setup() {
      detector ??= engineDetector(compile('rule EICAR { strings: $a = "EICAR-STANDARD" condition: $a }'), "fuzz", 2000);
    },
    run(d) {
      scanBytes(detector!, d, "input", { limits: SMALL, alertExceedsMax: true });
    },
  });
}

// ---- executables as containers (UPX, embedded archives and PEs, AutoIt, InstallShield) ----

for (const [kind, words] of [
  [
    "exe",
    ["MZ", "PE\0\0", "UPX0", "UPX1", "\x60\xbe", "\x8d\xbe", "PK\x03\x04", "MSCF\0\0\0\0", "Rar!\x1a\x07\0", "CLAM"],
  ],
  [
    "autoit",
    [
      "\xa3\x48\x4b\xbe\x98\x6c\x4a\xa9\x99\x4c\x53\x0a\x86\xd6\x48\x7d",
      "AU3!EA05",
      "AU3!EA06",
      "\xff\x6d\xb0\xce",
      "\x6b\x43\xca\x52",
    ],
  ],
  ["ishield", ["InstallShield\0", "\x06\0\0\0", "\x78\x9c"]],
] as const) {
  define(`archive-${kind}`, {
    about: `scanBytes() on ${kind} inputs (what they yield too) with small limits`,
    allowed: [ScannerError, DetectorTimeoutError],
    maxLen: 64 * 1024,
    dictionary: [...words],
    setup() {
      detector ??= engineDetector(compile('rule EICAR { strings: $a = "EICAR-STANDARD" condition: $a }'), "fuzz", 2000);
    },
    run(d) {
      scanBytes(detector!, d, "input", { limits: SMALL, alertExceedsMax: true });
    },
  });
}

// the formats read through 7-Zip (packages/scanner/src/archive/sevenzip): 7-Zip itself runs in
// a worker thread, so coverage guides only the reader around it; hangs and crashes still show
for (const kind of ["7z", "rar", "cab", "arj"]) {
  define(`archive-${kind}`, {
    about: `scanBytes() on ${kind} archives (read by 7-Zip in its worker) with small limits`,
    allowed: [ScannerError, DetectorTimeoutError],
    maxLen: 64 * 1024,
    dictionary: [
      "7z\xbc\xaf'\x1c",
      "\x17",
      "\x06\xf1\x07\x01",
      "Rar!\x1a\x07\x00",
      "Rar!\x1a\x07\x01\x00",
      "MSCF\0\0\0\0",
      "CK",
      "\x60\xea",
      "EICAR-STANDARD",
    ],
    setup() {
      detector ??= engineDetector(compile('rule EICAR { strings: $a = "EICAR-STANDARD" condition: $a }'), "fuzz", 2000);
    },
    run(d) {
      scanBytes(detector!, d, "input", { limits: SMALL, alertExceedsMax: true });
    },
  });
}

// mail, TNEF, uuencode, BinHex and HTML (packages/scanner/src/archive/mail)
const MAIL_WORDS = [
  "From ",
  "From: a@b\r\n",
  "MIME-Version: 1.0\r\n",
  'Content-Type: multipart/mixed; boundary="B"\r\n',
  "Content-Type: message/rfc822\r\n",
  "Content-Type: application/mac-binhex40\r\n",
  "Content-Transfer-Encoding: base64\r\n",
  "Content-Transfer-Encoding: quoted-printable\r\n",
  "Content-Transfer-Encoding: x-uuencode\r\n",
  "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.com\r\n",
  "=?utf-8?B?w6k=?=",
  "\r\n\r\n",
  "\r\n--B\r\n",
  "\r\n--B--\r\n",
  "begin 644 x\n",
  "begin-base64 644 x\n",
  "\n`\nend\n",
  "(This file must be converted with BinHex 4.0)\n:",
  'x\x9f>"',
  "\x02\x02\x90\x06\x00",
  "\x02\x0f\x80\x06\x00",
  "\x02\x05\x90\x06\x00",
  "<html>",
  "<script>",
  "</script>",
  '"data:;base64,',
  "'data:text/plain,%",
  "&#61;",
];
for (const kind of ["mail", "tnef", "uuencoded", "binhex", "html"]) {
  define(`archive-${kind}`, {
    about: `scanBytes() on ${kind} input (nested members too) with small limits`,
    allowed: [ScannerError, DetectorTimeoutError],
    maxLen: 64 * 1024,
    dictionary: MAIL_WORDS,
    setup() {
      detector ??= engineDetector(compile('rule EICAR { strings: $a = "EICAR-STANDARD" condition: $a }'), "fuzz", 2000);
    },
    run(d) {
      scanBytes(detector!, d, "input", { limits: SMALL, alertExceedsMax: true });
    },
  });
}

// documents (issue 15): OLE2, PDF, RTF, through the same scan as the archives
const DOC_WORDS: Record<string, string[]> = {
  ole2: [
    "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    "\xfe\xff\xff\xff",
    "\xff\xff\xff\xff",
    "\xfd\xff\xff\xff",
    "\x01Ole10Native",
    "VBA",
    "dir",
    "Attribut",
  ],
  pdf: [
    "%PDF-1.7",
    " 0 obj",
    "endobj",
    "stream\n",
    "\nendstream",
    "/FlateDecode",
    "/LZWDecode",
    "/ASCIIHexDecode",
    "/ASCII85Decode",
    "/RunLengthDecode",
    "/ObjStm",
    "/EmbeddedFile",
    "/JS",
    "/Length",
    "/Encrypt",
    "<<",
    ">>",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    " R",
  ],
  rtf: ["{\\rtf1", "{\\*\\objdata ", "\\bin", "}", "{", "01050000", "02000000", "0000000000000000", "d0cf11e0a1b11ae1"],
};
for (const kind of ["ole2", "pdf", "rtf"]) {
  define(`archive-${kind}`, {
    about: `scanBytes() on ${kind} documents (their members too) with small limits`,
    allowed: [ScannerError, DetectorTimeoutError],
    maxLen: 64 * 1024,
    dictionary: DOC_WORDS[kind]!,
    setup() {
      detector ??= engineDetector(compile('rule EICAR { strings: $a = "EICAR-STANDARD" condition: $a }'), "fuzz", 2000);
    },
    run(d) {
      scanBytes(detector!, d, "input", { limits: SMALL, alertExceedsMax: true });
    },
  });
}

// ---- ClamAV signatures and containers ----

const CLAM_WORDS = [
  ":",
  ";",
  "*",
  "EP+",
  "EOF-",
  "SL+",
  "S1+",
  "0",
  "1",
  "2",
  "7",
  "{1-5}",
  "{-4}",
  "[2-3]",
  "??",
  "?a",
  "a?",
  "(aa|bb)",
  "!(cc)",
  "B",
  "L",
  "W",
  "(",
  ")",
  "&",
  "|",
  "=",
  ">",
  "<",
  ",",
  "Target:1",
  "Engine:51-255",
  "FileSize:10-100",
  "EntryPoint:0-4",
  "NumberOfSections:2",
  "Container:CL_TYPE_ZIP",
  "IconGroup1:",
  "/abc/i",
  "0/x/",
  "Win.Test.EICAR",
  "HEX",
  "\n",
];
define("clamav-ndb", {
  about: "parseNdbLine() and translateNdb() on every line",
  allowed: [ClamavError, SignatureSyntaxError],
  maxLen: 2048,
  dictionary: CLAM_WORDS,
  run(d) {
    for (const [i, line] of latin1(d).split("\n").entries()) translateNdb(parseNdbLine(line), i, "N");
  },
});
define("clamav-ldb", {
  about: "parseLdbLine() and translateLdb() on every line",
  allowed: [ClamavError, SignatureSyntaxError],
  maxLen: 4096,
  dictionary: CLAM_WORDS,
  run(d) {
    for (const [i, line] of latin1(d).split("\n").entries()) translateLdb(parseLdbLine(line), i, "L");
  },
});
define("clamav-hash", {
  about: "parseHashText() on .hdb, .mdb, .fp and list text (first byte picks the format)",
  allowed: [ClamavError, SignatureSyntaxError],
  maxLen: 4096,
  dictionary: [
    "44d88612fea8a8f36de82e1278abb02f",
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
    ":68:",
    ":*:",
    ":73",
    "\n",
    "#",
  ],
  run(d) {
    const fmt = (["hdb", "mdb", "fp", "list"] as const)[(d[0] ?? 0) & 3]!;
    parseHashText(new HashStoreBuilder(), fmt, d.subarray(1));
  },
});
define("clamav-container", {
  about: "openContainer() on .cld (unsigned) and .cvd/.cud bytes (first byte picks the kind)",
  allowed: [ClamavError, SignatureSyntaxError],
  maxLen: 64 * 1024,
  dictionary: ["ClamAV-VDB:", ":", "ustar", "COPYING", ".info", "DSIG:", "\x1f\x8b\x08"],
  run(d) {
    const kind = (["cld", "cld", "cvd", "cud"] as const)[(d[0] ?? 0) & 3]!;
    openContainer(d.subarray(1), { path: `daily.${kind}`, kind, keys: keys().clamav });
  },
});
const BASE = new Map([
  ["daily.ndb", new TextEncoder().encode("A:0:*:41424344\nB:0:*:45464748\nC:0:*:494a4b4c\n")],
  ["daily.hdb", new TextEncoder().encode("44d88612fea8a8f36de82e1278abb02f:68:EICAR\n")],
]);
define("clamav-cdiff", {
  about: "readCdiff() on the bytes, and applyCdiffScript() on them as a script against a small database",
  allowed: [ClamavError, SignatureSyntaxError],
  maxLen: 8192,
  dictionary: [
    "ClamAV-Diff:",
    "OPEN daily.ndb",
    "CLOSE",
    "ADD ",
    "DEL ",
    "XCHG ",
    "MOVE daily.ndb daily.hdb ",
    "UNLINK daily.ndb",
    "\n",
    " 1 ",
    " 2 ",
    "A:0:*:41424344",
    "#",
  ],
  run(d) {
    try {
      readCdiff(d, { path: "daily-2.cdiff", keys: keys().clamav, maxScriptBytes: 1 << 20 });
    } catch (e) {
      if (!(e instanceof ClamavError || e instanceof SignatureSyntaxError)) throw e;
    }
    applyCdiffScript(BASE, latin1(d), "daily-2.cdiff");
  },
});

// ---- the daemon: clamd protocol and multipart ----

let daemon: { d: Daemon; clamd: number; http: number; dir: string } | undefined;
async function startDaemon(): Promise<void> {
  if (daemon) return;
  const dir = mkdtempSync(join(tmpdir(), "vigil-fuzz-daemon-"));
  // the tree path commands (SCAN, CONTSCAN ...) see: every absolute path is moved under it
  mkdirSync(join(dir, "files", "sub"), { recursive: true });
  writeFileSync(join(dir, "files", "eicar.com"), EICAR);
  writeFileSync(join(dir, "files", "sub", "plain.txt"), "hello\n");
  const d = new Daemon({
    signatures: {},
    jobs: 0,
    tcp: ["127.0.0.1:0"],
    socket: [],
    http: "127.0.0.1:0",
    httpOptions: { maxBodySize: 1 << 20 },
  });
  const a = await d.start();
  const port = (addr: string) => Number(addr.split(":").pop());
  daemon = { d, dir, clamd: port(a.clamd.find((x) => x.startsWith("127.0.0.1:"))!), http: port(a.http!) };
}
async function stopDaemon(): Promise<void> {
  if (!daemon) return;
  const { d, dir } = daemon;
  daemon = undefined;
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
}
/** Sends the bytes on a new connection, then FIN; resolves when the server closes (or resets). */
function exchange(port: number, d: Uint8Array, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => resolve()); // a reset is an answer
    s.on("close", () => resolve());
    s.on("data", () => {});
    s.once("connect", () => {
      s.end(Buffer.from(d));
    });
    s.setTimeout(2500, () => {
      s.destroy();
      reject(new Error(`${what} kept the connection open 2.5 s after FIN without answering`));
    });
  });
}
define("clamd", {
  about: "raw bytes on a clamd TCP connection to an in-process Daemon (then FIN); the daemon must answer or close",
  allowed: [],
  maxLen: 16 * 1024,
  dictionary: [
    "zPING\0",
    "nPING\n",
    "PING\n",
    "zIDSESSION\0",
    "zEND\0",
    "zVERSION\0",
    "nVERSIONCOMMANDS\n",
    "zSTATS\0",
    "zINSTREAM\0",
    "\0\0\0\x04",
    "\0\0\0\0",
    "EICAR",
    "zSCAN /nonexistent\0",
    "zCONTSCAN /tmp/nonexistent\0",
    "zFILDES\0",
    "nRELOAD\n",
    "zALLMATCHSCAN /x\0",
    "\r\n",
  ],
  setup: startDaemon,
  teardown: stopDaemon,
  // a path command must not walk the real file system ("zCONTSCAN /" scans the whole disk, in
  // the daemon's thread with jobs 0): ".." is defused and every " /" starts under the sandbox
  run: (d) =>
    exchange(
      daemon!.clamd,
      Buffer.from(latin1(d).replaceAll("..", "._").replaceAll(" /", ` ${daemon!.dir}/files/`), "latin1"),
      "clamd",
    ),
});
define("http", {
  about: "raw bytes on an HTTP connection to the same in-process Daemon's REST API (then FIN)",
  allowed: [],
  maxLen: 16 * 1024,
  dictionary: [
    "POST /v1/scan HTTP/1.1\r\n",
    "GET /v1/health HTTP/1.1\r\n",
    "HEAD /metrics HTTP/1.0\r\n",
    "Host: x\r\n",
    "Content-Length: ",
    "Transfer-Encoding: chunked\r\n",
    "Content-Type: multipart/form-data; boundary=XyZ\r\n",
    "Content-Type: application/octet-stream\r\n",
    "Connection: keep-alive\r\n",
    "Expect: 100-continue\r\n",
    "\r\n\r\n",
    "--XyZ\r\n",
    "0\r\n\r\n",
    "?name=a.txt",
    "Authorization: Bearer x\r\n",
  ],
  setup: startDaemon,
  teardown: stopDaemon,
  run: (d) => exchange(daemon!.http, d, "the HTTP API"),
});
define("multipart", {
  about: "MultipartReader over the bytes in chunks (first byte picks the chunk size), then end()",
  allowed: [MultipartError],
  maxLen: 16 * 1024,
  dictionary: [
    "\r\n",
    "--XyZ",
    "\r\n--XyZ\r\n",
    "\r\n--XyZ--",
    'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n',
    "Content-Type: text/plain\r\n",
    "filename*=utf-8''%ff%20",
    "\r\n\r\n",
    "  \t",
    ";",
  ],
  run(d) {
    const step = 1 + ((d[0] ?? 0) % 64) * ((d[0] ?? 0) > 200 ? 64 : 1);
    const r = new MultipartReader("XyZ", { partStart() {}, partData() {}, partEnd() {} });
    for (let i = 1; i < d.length && !r.done; i += step) r.write(Buffer.from(d.subarray(i, i + step)));
    r.end();
  },
});

// ---- the transparency log ----

define("tlog-note", {
  about: "openNote() on the bytes with the seed's verifier key",
  allowed: [TlogError, NoteError],
  maxLen: 4096,
  dictionary: ["\n\n", "\u2014 ", "vigil-fuzz+", "+", "\n", "=", "AAAA"],
  run(d) {
    openNote(d, [keys().noteVerifier]);
  },
});
define("tlog-checkpoint", {
  about: "parseCheckpoint() on the bytes",
  allowed: [TlogError, NoteError],
  maxLen: 2048,
  dictionary: ["\n", "example.com/log", "18446744073709551615", "00", "="],
  run(d) {
    parseCheckpoint(d);
  },
});
define("tlog-tile", {
  about: "decodeHashTile(), decodeEntryBundle() and parseTlogProof() (first byte picks one)",
  allowed: [TlogError, NoteError],
  maxLen: 64 * 1024,
  dictionary: ["\0\x20", "\xff\xff", "index ", "\n", "c2lnbmVk"],
  run(d) {
    const rest = d.subarray(1);
    const w = (d[0] ?? 0) >> 2;
    switch ((d[0] ?? 0) & 3) {
      case 0:
        decodeHashTile(rest);
        break;
      case 1:
        decodeEntryBundle(rest);
        break;
      case 2:
        decodeEntryBundle(rest, w || undefined);
        break;
      default:
        parseTlogProof(latin1(rest));
    }
  },
});

// ---- update bundles ----

define("updates-bundle", {
  about: "readTar(), then openBundle() with the archive's own MANIFEST, and parseManifest()",
  allowed: [UpdateError, TlogError, NoteError],
  maxLen: 64 * 1024,
  dictionary: ["MANIFEST", "rules/", "ustar\0", '"files"', '"sha256"', '"size"', "\n\n", "\u2014 "],
  run(d) {
    const entries = readTar(d, { maxFiles: 64, maxTotal: 1 << 20 });
    const manifest = entries[0] ? utf8(entries[0].data) : "";
    try {
      parseManifest(manifest);
    } catch (e) {
      if (!(e instanceof UpdateError)) throw e;
    }
    openBundle(d, manifest);
  },
});

export const TARGETS: ReadonlyMap<string, Target> = targets;

export function target(name: string): Target {
  const t = targets.get(name);
  if (!t) throw new Error(`no fuzz target ${JSON.stringify(name)}; the targets are: ${[...targets.keys()].join(", ")}`);
  return t;
}
