/**
 * @vigil/daemon: the scan service. One process speaks the clamd protocol (TCP and unix
 * sockets, clamd 1.4's commands and replies byte for byte) and, optionally, an HTTP scan API.
 *
 * Data flow: a client's bytes (INSTREAM chunks, an HTTP body or multipart part) or a path
 * (SCAN/CONTSCAN/MULTISCAN/ALLMATCHSCAN) arrive at a front end (`ClamdServer`, `HttpApi`),
 * which takes a scan slot from the `Service` (MaxThreads running, MaxQueue waiting, beyond
 * that a clear busy error), leases the current rules from `Engines` and hands the bytes or
 * path to @vigil/scanner's `Scanner` (worker pool, archives, limits). The `FileResult` comes
 * back as a clamd reply line (`stream: Name FOUND`) or JSON, and feeds `Metrics`. `RELOAD`,
 * SIGHUP and SIGUSR2 rebuild the rules and swap them in; scans in flight finish on the old
 * rules. `Daemon` wires the parts together for `vigil daemon`.
 *
 * clamd's own configuration flows in through `parseClamdConf` (a clamd.conf, read with clamd's
 * rules; bad values are errors naming the line) and `clamdSettings` (listeners, database
 * directory, limits, log, User/PidFile/SelfCheck, and a warning for each option not honoured);
 * results, reloads, start-up and shutdown flow out to `ClamdLog` as the lines clamd logs.
 */
export { DaemonError, type DaemonErrorCode } from "./error.js";
export { Daemon, type DaemonOptions, type DaemonAddresses } from "./daemon.js";
export {
  ClamdServer,
  DEFAULT_CLAMD_LIMITS,
  VERSION_COMMANDS,
  type ClamdLimits,
  type ClamdListenOptions,
  type ClamdObserver,
} from "./clamd.js";
export {
  parseClamdConf,
  clamdSettings,
  CLAMD_OPTIONS,
  type ClamdConf,
  type ClamdSettings,
  type ConfEntry,
  type ConfValue,
} from "./clamdconf.js";
export { ClamdLog, ctime, type ClamdLogOptions, type Scanned } from "./log.js";
export { HttpApi, isLoopback, type HttpOptions, type FileVerdict } from "./http.js";
export {
  Service,
  BusyError,
  replyLines,
  verdictOf,
  CLAMD_VERSION,
  VIGIL_VERSION,
  type ServiceOptions,
} from "./service.js";
export { Engines, Generation, Slots, type EngineOptions, type BuildSignatures, type Lease } from "./engine.js";
export { SpoolWriter, SPOOL_HIGH_WATER } from "./spool.js";
export { Metrics, type Verdict, type Interface } from "./metrics.js";
export { MultipartReader, MultipartError, boundaryOf, type PartHeaders, type MultipartHandler } from "./multipart.js";
export { openApiDocument } from "./openapi.js";
