/**
 * clamd's configuration file (`clamd.conf`, e.g. Debian's /etc/clamav/clamd.conf), read with
 * clamd's own rules (ClamAV's common/optparser.c): one `Name value` per line, `#` comments
 * (whole line or trailing), values in double quotes allowed, names case-sensitive, booleans
 * yes/no/true/false/1/0, numbers in decimal, sizes with an optional K, M or G suffix, a line
 * starting with `Example` refusing the file, a repeated single-valued option taking its last
 * value, `TCPAddr`, `ExcludePath` and the other multi-valued options accumulating.
 *
 * Where Vigil differs from clamd on purpose: an option clamd does not know is a warning naming
 * the line (clamd refuses the file), and every option Vigil does not honour with the value
 * given is a warning naming the line and saying why, once per option. A bad value (a number
 * that is not one, an unknown boolean) is an error naming the file and line, as in clamd.
 *
 * `clamdSettings` turns the parsed file into what `vigil daemon` needs: listeners, database
 * directory, limits, the log and the process settings (User, PidFile, SelfCheck).
 */
import { DaemonError } from "./error.js";

type Kind = "b" | "n" | "z" | "s";

/**
 * Every option clamd accepts in clamd.conf, with its type (b boolean, n number, z size, s
 * string), `,m` when it may repeat and `,d` when clamd ignores it as deprecated (the option
 * table of ClamAV's common/optparser.c, current source: ClamAV 1.5's options such as
 * EnableShutdownCommand, EnableReloadCommand, EnableVersionCommand, EnableStatsCommand and
 * CVDCertsDirectory are included, which Debian's clamd 1.4.6 still refuses).
 */
const TABLE = [
  "AlertExceedsMax:b CacheSize:n PreludeEnable:b PreludeAnalyzerName:s LogFile:s LogFileUnlock:b",
  "LogFileMaxSize:z LogTime:b LogClean:b LogSyslog:b LogFacility:s LogVerbose:b LogRotate:b",
  "ExtendedDetectionInfo:b PidFile:s TemporaryDirectory:s DatabaseDirectory:s CVDCertsDirectory:s",
  "OfficialDatabaseOnly:b FailIfCvdOlderThan:n LocalSocket:s LocalSocketGroup:s LocalSocketMode:s",
  "FixStaleSocket:b TCPSocket:n EnableShutdownCommand:b EnableReloadCommand:b EnableSelfCheckCommand:b",
  "EnableVersionCommand:b EnableStatsCommand:b TCPAddr:s,m MaxConnectionQueueLength:n",
  "StreamMaxLength:z StreamMinPort:n StreamMaxPort:n MaxThreads:n ReadTimeout:n CommandReadTimeout:n",
  "SendBufTimeout:n MaxQueue:n IdleTimeout:n ExcludePath:s,m MaxDirectoryRecursion:n",
  "FollowDirectorySymlinks:b FollowFileSymlinks:b CrossFilesystems:b SelfCheck:n",
  "ConcurrentDatabaseReload:b DisableCache:b VirusEvent:s ExitOnOOM:b AllowAllMatchScan:b Foreground:b",
  "Debug:b LeaveTemporaryFiles:b GenerateMetadataJson:b JsonStoreHTMLURIs:b JsonStorePDFURIs:b",
  "JsonStoreExtraHashes:b User:s FIPSCryptoHashLimits:b Bytecode:b BytecodeSecurity:s",
  "BytecodeTimeout:n BytecodeUnsigned:b BytecodeMode:s DetectPUA:b ExcludePUA:s,m IncludePUA:s,m",
  "ScanPE:b ScanELF:b ScanMail:b ScanPartialMessages:b PhishingSignatures:b PhishingScanURLs:b",
  "HeuristicAlerts:b HeuristicScanPrecedence:b StructuredDataDetection:b",
  "StructuredMinCreditCardCount:n StructuredMinSSNCount:n StructuredSSNFormatNormal:b",
  "StructuredSSNFormatStripped:b ScanHTML:b ScanOLE2:b AlertBrokenExecutables:b AlertBrokenMedia:b",
  "AlertEncrypted:b StructuredCCOnly:b AlertEncryptedArchive:b AlertEncryptedDoc:b AlertOLE2Macros:b",
  "AlertPhishingSSLMismatch:b AlertPhishingCloak:b AlertPartitionIntersection:b ScanPDF:b ScanSWF:b",
  "ScanXMLDOCS:b ScanHWP3:b ScanOneNote:b ScanArchive:b ScanImage:b ScanImageFuzzyHash:b ForceToDisk:b",
  "MaxScanTime:n MaxScanSize:z MaxFileSize:z MaxRecursion:n MaxFiles:n MaxEmbeddedPE:z",
  "MaxHTMLNormalize:z MaxHTMLNoTags:z MaxScriptNormalize:z MaxZipTypeRcg:z MaxPartitions:n",
  "MaxIconsPE:n MaxRecHWP3:n PCREMatchLimit:n PCRERecMatchLimit:n PCREMaxFileSize:z",
  "OnAccessMountPath:s,m OnAccessIncludePath:s,m OnAccessExcludePath:s,m OnAccessExcludeRootUID:b",
  "OnAccessExcludeUID:n,m OnAccessExcludeUname:s,m OnAccessMaxFileSize:z OnAccessDisableDDD:b",
  "OnAccessPrevention:b OnAccessExtraScanning:b OnAccessCurlTimeout:n OnAccessMaxThreads:n",
  "OnAccessRetryAttempts:n OnAccessDenyOnError:b DevACOnly:b DevACDepth:n DevPerformance:b DevLiblog:b",
  "DisableCertCheck:b DetectBrokenExecutables:b,d AlgorithmicDetection:b BlockMax:b",
  "PhishingAlwaysBlockSSLMismatch:b PhishingAlwaysBlockCloak:b PartitionIntersection:b",
  "OLE2BlockMacros:b ArchiveBlockEncrypted:b MailMaxRecursion:n,d ArchiveMaxScanSize:z,d",
  "ArchiveMaxRecursion:n,d ArchiveMaxFiles:n,d ArchiveMaxCompressionRatio:n,d ArchiveBlockMax:b,d",
  "ArchiveLimitMemoryUsage:b,d MailFollowURLs:b,d AllowSupplementaryGroups:b,d ScanOnAccess:b,d",
];

interface OptionType {
  kind: Kind;
  multiple: boolean;
  deprecated: boolean;
}

export const CLAMD_OPTIONS: ReadonlyMap<string, OptionType> = new Map(
  TABLE.join(" ")
    .split(" ")
    .map((e) => {
      const [name, spec] = e.split(":") as [string, string];
      const [kind, ...flags] = spec.split(",");
      return [name, { kind: kind as Kind, multiple: flags.includes("m"), deprecated: flags.includes("d") }];
    }),
);

export type ConfValue = boolean | number | string;

export interface ConfEntry {
  value: ConfValue;
  line: number;
}

export interface ClamdConf {
  file: string;
  /** Each option given, in file order of first appearance; single-valued ones hold their last value. */
  entries: Map<string, ConfEntry[]>;
  /** Unknown and deprecated options: `file:line: ...`. */
  warnings: string[];
}

const BOOL = /^(yes|true|1|no|false|0)$/i;

function bad(file: string, line: number, message: string): DaemonError {
  return new DaemonError("BAD_CONFIG", `${file}:${line}: ${message}`);
}

/** Parses clamd.conf text; throws DaemonError BAD_CONFIG naming the file and line on a bad value. */
export function parseClamdConf(text: string, file = "clamd.conf"): ClamdConf {
  const entries = new Map<string, ConfEntry[]>();
  const warnings: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!.replace(/\r$/, "");
    const buf = raw.replace(/^[ \t]+/, "");
    // clamd skips lines of two characters or fewer (newline included) and comments
    if (buf.length <= 1 || buf.startsWith("#")) continue;
    if (buf.startsWith("Example"))
      throw bad(file, n, "the 'Example' line is still there: this is the example file; edit it and remove that line");
    const sp = buf.search(/[ \t]/);
    if (sp < 0) throw bad(file, n, `missing value for option ${buf.trim()}`);
    const name = buf.slice(0, sp);
    let arg = buf
      .slice(sp + 1)
      .replace(/^[ \t]+/, "")
      .replace(/[ \t]+$/, "");
    if (!arg) throw bad(file, n, `missing value for option ${name}`);
    if (arg.startsWith('"')) {
      const end = arg.lastIndexOf('"');
      if (end <= 0) throw bad(file, n, `missing closing quote in the value of ${name}`);
      arg = arg.slice(1, end);
      if (!arg) throw bad(file, n, `empty value for option ${name}`);
    }
    const type = CLAMD_OPTIONS.get(name);
    if (!type) {
      warnings.push(`${file}:${n}: unknown option ${name}, ignored (clamd refuses a file with it)`);
      continue;
    }
    if (type.deprecated) {
      warnings.push(`${file}:${n}: ignoring deprecated option ${name} (as clamd does)`);
      continue;
    }
    // a trailing comment: clamd 1.4 strips it from text values and refuses it after a
    // boolean, number or size (its pattern for those does not take it), and so does this
    const hash = arg.indexOf("#");
    if (hash >= 0 && type.kind === "s") arg = arg.slice(0, hash).replace(/[ \t]+$/, "");
    const hint = arg.includes("#")
      ? " (clamd takes no comment after a yes/no, a number or a size: put it on a line of its own)"
      : "";
    let value: ConfValue;
    switch (type.kind) {
      case "b":
        if (!BOOL.test(arg))
          throw bad(file, n, `${name} takes yes or no (also true/false, 1/0), not ${JSON.stringify(arg)}${hint}`);
        value = /^(yes|true|1)$/i.test(arg);
        break;
      case "n":
        if (!/^\d+$/.test(arg)) throw bad(file, n, `${name} takes a whole number, not ${JSON.stringify(arg)}${hint}`);
        value = Number(arg);
        break;
      case "z": {
        const m = /^(\d+)([kmg]?)$/i.exec(arg);
        if (!m)
          throw bad(
            file,
            n,
            `${name} takes a size (a number with an optional K, M or G suffix), not ${JSON.stringify(arg)}${hint}`,
          );
        const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
        // clamd reads the digits with strtoll(..., 0): a leading 0 makes them octal
        const digits = m[1]!;
        if (/^0\d/.test(digits) && !/^0[0-7]+$/.test(digits))
          throw bad(
            file,
            n,
            `${name} ${arg}: a leading 0 makes clamd read the number as octal, and 8 and 9 are not octal digits`,
          );
        const base = /^0\d/.test(digits) ? Number.parseInt(digits, 8) : Number(digits);
        value = base * mult;
        if (!Number.isSafeInteger(value)) throw bad(file, n, `${name} ${arg} is too large`);
        break;
      }
      default:
        if (!arg) throw bad(file, n, `empty value for option ${name}`);
        value = arg;
    }
    const list = entries.get(name);
    if (list && type.multiple) list.push({ value, line: n });
    else entries.set(name, [{ value, line: n }]);
  }
  return { file, entries, warnings };
}

/** What `vigil daemon` takes from a clamd.conf. Absent fields: the option was not given. */
export interface ClamdSettings {
  /** LocalSocket */
  socket?: string;
  socketGroup?: string;
  /** LocalSocketMode, parsed as octal. */
  socketMode?: number;
  fixStaleSocket: boolean;
  /** TCPSocket/TCPAddr as HOST:PORT listeners (every interface when TCPAddr is absent, as clamd). */
  tcp: string[];
  /** MaxConnectionQueueLength: the listen backlog. */
  backlog?: number;
  databaseDirectory?: string;
  tempDir?: string;
  logFile?: string;
  logTime: boolean;
  logClean: boolean;
  logVerbose: boolean;
  extendedDetectionInfo: boolean;
  /** LogFileMaxSize (clamd's default 1M; 0: no limit). */
  logFileMaxSize: number;
  logRotate: boolean;
  pidFile?: string;
  user?: string;
  /** SelfCheck seconds (clamd's default 600; 0: off). */
  selfCheck: number;
  streamMaxLength?: number;
  maxThreads?: number;
  maxQueue?: number;
  /** seconds */
  readTimeout?: number;
  commandReadTimeout?: number;
  idleTimeout?: number;
  maxFileSize?: number;
  maxScanSize?: number;
  maxRecursion?: number;
  maxFiles?: number;
  /** ms */
  maxScanTime?: number;
  alertExceedsMax?: boolean;
  detectPua?: boolean;
  /** PhishingSignatures (clamd's default yes): load the HTML.Phishing/Email.Phishing body signatures. */
  phishingSigs?: boolean;
  /** PhishingScanURLs (default yes): load .pdb/.wdb/.gdb and check mail links with them. */
  phishingScanUrls?: boolean;
  /** AlertPhishingSSLMismatch (or its old name PhishingAlwaysBlockSSLMismatch) */
  alertPhishingSsl?: boolean;
  /** AlertPhishingCloak (or its old name PhishingAlwaysBlockCloak) */
  alertPhishingCloak?: boolean;
  /** Commands turned off (EnableShutdownCommand no, ...). */
  disabledCommands: string[];
  /** ExcludePath regular expressions. */
  excludePath: string[];
  followSymlinks?: boolean;
  crossFilesystems: boolean;
  maxDirectoryRecursion?: number;
  /** Options Vigil does not honour with the value given, one line each: `file:line: Name: why`. */
  warnings: string[];
}

/** Behaviour Vigil has anyway: silent when the value is this one, else the reason it is not honoured. */
const SAME: Record<string, [ConfValue, string]> = {
  // formats Vigil always reads (as far as its parsers go) and cannot turn off one by one
  ScanPE: [true, "Vigil always parses PE files"],
  ScanELF: [true, "Vigil always parses ELF files"],
  ScanOLE2: [true, "Vigil reads what it reads of OLE2 files always"],
  ScanPDF: [true, "Vigil reads what it reads of PDF files always"],
  ScanHTML: [true, "HTML is scanned as bytes always"],
  ScanMail: [true, "mail is scanned as Vigil's unpackers read it, always"],
  ScanSWF: [true, "cannot be turned off in Vigil"],
  ScanXMLDOCS: [true, "cannot be turned off in Vigil"],
  ScanHWP3: [true, "cannot be turned off in Vigil"],
  ScanOneNote: [true, "cannot be turned off in Vigil"],
  ScanImage: [true, "cannot be turned off in Vigil"],
  ScanImageFuzzyHash: [true, "Vigil has no image fuzzy hashes (ClamAV .ldb fuzzy_img subsignatures do not load)"],
  ScanArchive: [true, "Vigil always unpacks archives; use MaxRecursion to bound them"],
  HeuristicAlerts: [true, "Vigil's heuristics (limits exceeded) cannot be turned off here"],
  AlgorithmicDetection: [true, "Vigil's heuristics (limits exceeded) cannot be turned off here"],
  // off: nothing asked of Vigil
  ScanPartialMessages: [false, "Vigil does not reassemble message/partial mail"],
  HeuristicScanPrecedence: [false, "not supported: a heuristic alert never stops the scan early"],
  StructuredDataDetection: [false, "Vigil has no data-loss-prevention module"],
  AlertBrokenExecutables: [false, "Vigil does not alert on broken executables"],
  AlertBrokenMedia: [false, "Vigil does not alert on broken media files"],
  AlertEncrypted: [false, "Vigil reports encrypted members as not fully scanned, not as detections"],
  AlertEncryptedArchive: [false, "Vigil reports encrypted members as not fully scanned, not as detections"],
  AlertEncryptedDoc: [false, "Vigil does not alert on encrypted documents"],
  ArchiveBlockEncrypted: [false, "Vigil reports encrypted members as not fully scanned, not as detections"],
  AlertOLE2Macros: [false, "Vigil does not alert on OLE2 macros"],
  OLE2BlockMacros: [false, "Vigil does not alert on OLE2 macros"],
  AlertPartitionIntersection: [false, "Vigil does not read disk images"],
  PartitionIntersection: [false, "Vigil does not read disk images"],
  Bytecode: [false, "Vigil counts .cbc bytecode signatures but does not execute them"],
  Debug: [false, "libclamav debug output has no equivalent in Vigil"],
  LogSyslog: [false, "Vigil does not write to syslog: use LogFile, or run under systemd (stderr goes to the journal)"],
  PreludeEnable: [false, "Vigil has no Prelude support"],
  LeaveTemporaryFiles: [false, "Vigil always removes its spool files"],
  ForceToDisk: [false, "Vigil keeps small streams in memory (see --spool-threshold)"],
  GenerateMetadataJson: [false, "Vigil does not write libclamav's metadata JSON"],
  OfficialDatabaseOnly: [false, "Vigil loads every database in DatabaseDirectory"],
  DisableCertCheck: [false, "Vigil does not check Authenticode certificates yet"],
  ConcurrentDatabaseReload: [true, "Vigil always reloads concurrently (scans in flight finish on the old rules)"],
  ExitOnOOM: [false, "Node.js stops the process on out-of-memory anyway"],
  FIPSCryptoHashLimits: [false, "Vigil verifies databases with MD5 and SHA-256 as ClamAV does by default"],
  OnAccessPrevention: [false, "clamd.conf's on-access options are clamonacc's; Vigil's is `vigil watch`"],
  DevLiblog: [false, "developer option, no equivalent"],
  DevPerformance: [false, "developer option, no equivalent"],
  DevACOnly: [false, "developer option, no equivalent"],
  LogFileUnlock: [true, "Vigil does not lock the log file (run one daemon per log file)"],
};

/** Options with no effect on what Vigil reports: accepted silently whatever their value. */
const NO_EFFECT = new Set([
  // performance knobs of clamd's own design
  "CacheSize",
  "DisableCache",
  "SendBufTimeout",
  "StreamMinPort",
  "StreamMaxPort",
  // used only together with an option handled elsewhere
  "LogFacility",
  "PreludeAnalyzerName",
  "BytecodeSecurity",
  "BytecodeTimeout",
  "BytecodeUnsigned",
  "BytecodeMode",
  "StructuredMinCreditCardCount",
  "StructuredMinSSNCount",
  "StructuredSSNFormatNormal",
  "StructuredSSNFormatStripped",
  "StructuredCCOnly",
  // clamonacc's, read from the same file by clamonacc, not by clamd
  "OnAccessMountPath",
  "OnAccessIncludePath",
  "OnAccessExcludePath",
  "OnAccessExcludeRootUID",
  "OnAccessExcludeUID",
  "OnAccessExcludeUname",
  "OnAccessMaxFileSize",
  "OnAccessDisableDDD",
  "OnAccessExtraScanning",
  "OnAccessCurlTimeout",
  "OnAccessMaxThreads",
  "OnAccessRetryAttempts",
  "OnAccessDenyOnError",
  "DevACDepth",
]);

/** Limits of libclamav stages Vigil does not have: accepted, with a warning that they bound nothing. */
const NO_STAGE: Record<string, string> = {
  MaxEmbeddedPE: "Vigil does not look for PE files embedded in other files",
  MaxHTMLNormalize: "Vigil does not normalise HTML",
  MaxHTMLNoTags: "Vigil does not normalise HTML",
  MaxScriptNormalize: "Vigil does not normalise scripts",
  MaxZipTypeRcg: "Vigil does not re-type ZIP files as PE",
  MaxPartitions: "Vigil does not read disk images",
  MaxIconsPE: "Vigil does not match PE icons (.idb signatures are counted, not applied)",
  MaxRecHWP3: "Vigil does not parse HWP3 files",
  PCREMatchLimit: "Vigil's regular expressions run in linear time, with no match-call limit",
  PCRERecMatchLimit: "Vigil's regular expressions run in linear time, with no recursion limit",
  PCREMaxFileSize: "Vigil applies PCRE subsignatures to files of any size within MaxScanSize",
  FailIfCvdOlderThan: "Vigil warns when daily is older than 7 days and loads it anyway",
  CVDCertsDirectory: "Vigil verifies .cvd signatures with ClamAV's published keys, not a certificate directory",
  VirusEvent: "not supported: Vigil runs no command on a detection; watch the log or use the HTTP API",
  EnableSelfCheckCommand: "Vigil has no SELFCHECK command (SelfCheck in the configuration is honoured)",
  ExcludePUA: "PUA categories are not filtered: DetectPUA loads them all",
  IncludePUA: "PUA categories are not filtered: DetectPUA loads them all",
};

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Turns a parsed clamd.conf into Vigil's daemon settings. Every option is either honoured,
 * known to change nothing Vigil reports, or named in `warnings` with the reason.
 */
export function clamdSettings(conf: ClamdConf): ClamdSettings {
  const warnings: string[] = [...conf.warnings];
  const get = (k: string): ConfValue | undefined => conf.entries.get(k)?.at(-1)?.value;
  const line = (k: string) => conf.entries.get(k)?.at(-1)?.line ?? 0;
  const warn = (k: string, why: string) => warnings.push(`${conf.file}:${line(k)}: ${k} not honoured: ${why}`);
  const num = (k: string) => get(k) as number | undefined;
  const bool = (k: string, d: boolean) => (get(k) as boolean | undefined) ?? d;
  const str = (k: string) => get(k) as string | undefined;
  const limit = (k: string) => {
    const v = num(k);
    return v === undefined ? undefined : v === 0 ? NO_LIMIT : v;
  };

  const s: ClamdSettings = {
    fixStaleSocket: bool("FixStaleSocket", true),
    tcp: [],
    logTime: bool("LogTime", false),
    logClean: bool("LogClean", false),
    logVerbose: bool("LogVerbose", false),
    extendedDetectionInfo: bool("ExtendedDetectionInfo", false),
    logFileMaxSize: num("LogFileMaxSize") ?? 1024 * 1024,
    logRotate: bool("LogRotate", false),
    selfCheck: num("SelfCheck") ?? 600,
    disabledCommands: [],
    excludePath: (conf.entries.get("ExcludePath") ?? []).map((e) => {
      try {
        new RegExp(e.value as string);
      } catch (err) {
        throw bad(
          conf.file,
          e.line,
          `ExcludePath ${JSON.stringify(e.value)} is not a valid regular expression: ${(err as Error).message}`,
        );
      }
      return e.value as string;
    }),
    crossFilesystems: bool("CrossFilesystems", true),
    warnings,
  };
  const set = <K extends keyof ClamdSettings>(k: K, v: ClamdSettings[K] | undefined) => {
    if (v !== undefined) s[k] = v;
  };
  set("socket", str("LocalSocket"));
  set("socketGroup", str("LocalSocketGroup"));
  const mode = str("LocalSocketMode");
  if (mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(mode))
      throw bad(
        conf.file,
        line("LocalSocketMode"),
        `LocalSocketMode takes an octal mode such as 660, not ${JSON.stringify(mode)}`,
      );
    s.socketMode = Number.parseInt(mode, 8) & 0o666;
  }
  const port = num("TCPSocket");
  if (port !== undefined) {
    if (port < 1 || port > 65535)
      throw bad(conf.file, line("TCPSocket"), `TCPSocket ${port} is not a TCP port (1-65535)`);
    const addrs = (conf.entries.get("TCPAddr") ?? []).map((e) => e.value as string);
    s.tcp = (addrs.length ? addrs : ["0.0.0.0"]).map((a) => (a.includes(":") ? `[${a}]:${port}` : `${a}:${port}`));
  } else if (conf.entries.has("TCPAddr")) {
    warnings.push(`${conf.file}:${line("TCPAddr")}: TCPAddr without TCPSocket: no TCP listener (as clamd)`);
  }
  set("backlog", num("MaxConnectionQueueLength"));
  set("databaseDirectory", str("DatabaseDirectory"));
  set("tempDir", str("TemporaryDirectory"));
  set("logFile", str("LogFile"));
  set("pidFile", str("PidFile"));
  set("user", str("User"));
  set("streamMaxLength", num("StreamMaxLength"));
  const threads = num("MaxThreads");
  if (threads === 0) throw bad(conf.file, line("MaxThreads"), "MaxThreads must be at least 1");
  set("maxThreads", threads);
  set("maxQueue", num("MaxQueue"));
  set("readTimeout", num("ReadTimeout"));
  set("commandReadTimeout", num("CommandReadTimeout"));
  set("idleTimeout", num("IdleTimeout"));
  set("maxFileSize", limit("MaxFileSize"));
  set("maxScanSize", limit("MaxScanSize"));
  set("maxRecursion", limit("MaxRecursion"));
  set("maxFiles", limit("MaxFiles"));
  const scanTime = num("MaxScanTime");
  // 0 disables the limit in clamd; the engine takes a number of ms (about 24 days here)
  set("maxScanTime", scanTime === 0 ? 2 ** 31 - 1 : scanTime);
  set("maxDirectoryRecursion", limit("MaxDirectoryRecursion"));
  set("alertExceedsMax", get("AlertExceedsMax") as boolean | undefined);
  set("detectPua", get("DetectPUA") as boolean | undefined);
  set("phishingSigs", get("PhishingSignatures") as boolean | undefined);
  set("phishingScanUrls", get("PhishingScanURLs") as boolean | undefined);
  const ssl = (get("AlertPhishingSSLMismatch") ?? get("PhishingAlwaysBlockSSLMismatch")) as boolean | undefined;
  const cloak = (get("AlertPhishingCloak") ?? get("PhishingAlwaysBlockCloak")) as boolean | undefined;
  set("alertPhishingSsl", ssl);
  set("alertPhishingCloak", cloak);
  for (const [key, cmd] of [
    ["EnableShutdownCommand", "SHUTDOWN"],
    ["EnableReloadCommand", "RELOAD"],
    ["EnableVersionCommand", "VERSION"],
    ["EnableStatsCommand", "STATS"],
    ["AllowAllMatchScan", "ALLMATCHSCAN"],
  ] as const)
    if (!bool(key, true)) s.disabledCommands.push(cmd);
  const fd = get("FollowDirectorySymlinks") as boolean | undefined;
  const ff = get("FollowFileSymlinks") as boolean | undefined;
  if (fd !== undefined || ff !== undefined) {
    if ((fd ?? false) === (ff ?? false)) s.followSymlinks = fd ?? false;
    else {
      // Vigil's walk follows both kinds or neither: the safer choice, not following, wins
      s.followSymlinks = false;
      warn(
        fd ? "FollowDirectorySymlinks" : "FollowFileSymlinks",
        "Vigil follows symbolic links to files and directories together or not at all; neither is followed",
      );
    }
  }
  if (bool("LogVerbose", false)) warn("LogVerbose", "Vigil's log has clamd's normal lines only");
  if (get("Foreground") === false)
    warn("Foreground", "Vigil does not fork into the background: run it under systemd or another supervisor");
  if (s.logRotate && s.logFileMaxSize === 0) {
    // clamd rotates only with a size limit; nothing to do
  }

  const handled = new Set([
    "LocalSocket",
    "LocalSocketGroup",
    "LocalSocketMode",
    "FixStaleSocket",
    "TCPSocket",
    "TCPAddr",
    "MaxConnectionQueueLength",
    "DatabaseDirectory",
    "TemporaryDirectory",
    "LogFile",
    "LogTime",
    "LogClean",
    "LogVerbose",
    "ExtendedDetectionInfo",
    "LogFileMaxSize",
    "LogRotate",
    "PidFile",
    "User",
    "SelfCheck",
    "StreamMaxLength",
    "MaxThreads",
    "MaxQueue",
    "ReadTimeout",
    "CommandReadTimeout",
    "IdleTimeout",
    "MaxFileSize",
    "MaxScanSize",
    "MaxRecursion",
    "MaxFiles",
    "MaxScanTime",
    "MaxDirectoryRecursion",
    "AlertExceedsMax",
    "DetectPUA",
    "PhishingSignatures",
    "PhishingScanURLs",
    "AlertPhishingSSLMismatch",
    "AlertPhishingCloak",
    "PhishingAlwaysBlockSSLMismatch",
    "PhishingAlwaysBlockCloak",
    "EnableShutdownCommand",
    "EnableReloadCommand",
    "EnableVersionCommand",
    "EnableStatsCommand",
    "AllowAllMatchScan",
    "FollowDirectorySymlinks",
    "FollowFileSymlinks",
    "CrossFilesystems",
    "ExcludePath",
    "Foreground",
  ]);
  for (const k of conf.entries.keys()) {
    if (handled.has(k) || NO_EFFECT.has(k)) continue;
    const same = SAME[k];
    if (same) {
      if (get(k) !== same[0]) warn(k, same[1]);
      continue;
    }
    const stage = NO_STAGE[k];
    warn(k, stage ?? "no equivalent in Vigil");
  }
  return s;
}
