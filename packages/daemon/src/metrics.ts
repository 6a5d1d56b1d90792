/**
 * Counters the daemon keeps for /metrics (Prometheus text format 0.0.4) and STATS: scans by
 * interface and verdict, bytes, detections, errors, a latency histogram, and gauges read at
 * render time (queue depth, connections).
 */
/** "incomplete": nothing found, but not every byte could be read (a file is never clean then). */
export type Verdict = "clean" | "infected" | "error" | "incomplete";
export type Interface = "clamd" | "http";

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly scans = new Map<string, number>();
  bytes = 0;
  detections = 0;
  errors = 0;
  rejected = 0;
  /** Streams that went to spool files. */
  spooled = 0;
  private readonly buckets = new Array<number>(BUCKETS.length).fill(0);
  private latencyCount = 0;
  private latencySum = 0;
  readonly started = Date.now();

  record(iface: Interface, verdict: Verdict, bytes: number, detections: number, seconds: number): void {
    const key = `${iface}|${verdict}`;
    this.scans.set(key, (this.scans.get(key) ?? 0) + 1);
    this.bytes += bytes;
    this.detections += detections;
    if (verdict === "error") this.errors++;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.buckets[i]!++;
    this.latencyCount++;
    this.latencySum += seconds;
  }

  get totalScans(): number {
    let n = 0;
    for (const v of this.scans.values()) n += v;
    return n;
  }

  render(gauges: {
    queueDepth: number;
    running: number;
    connections: number;
    signatures: number;
    reloads: number;
    streamBytes?: number;
    scanThreads?: number;
    spooled?: number;
  }): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    metric("vigil_scans_total", "counter", "Scans finished, by interface and verdict.");
    for (const iface of ["clamd", "http"])
      for (const verdict of ["clean", "infected", "error", "incomplete"]) {
        out.push(
          `vigil_scans_total{interface="${iface}",verdict="${verdict}"} ${this.scans.get(`${iface}|${verdict}`) ?? 0}`,
        );
      }
    metric("vigil_scanned_bytes_total", "counter", "Bytes received for scanning.");
    out.push(`vigil_scanned_bytes_total ${this.bytes}`);
    metric("vigil_detections_total", "counter", "Detections reported.");
    out.push(`vigil_detections_total ${this.detections}`);
    metric("vigil_scan_errors_total", "counter", "Scans that ended in an error.");
    out.push(`vigil_scan_errors_total ${this.errors}`);
    metric(
      "vigil_rejected_total",
      "counter",
      "Requests refused because MaxQueue was full or the body was over the limit.",
    );
    out.push(`vigil_rejected_total ${this.rejected}`);
    metric(
      "vigil_scan_duration_seconds",
      "histogram",
      "Time from the scan request (all bytes received) to the verdict.",
    );
    for (let i = 0; i < BUCKETS.length; i++)
      out.push(`vigil_scan_duration_seconds_bucket{le="${BUCKETS[i]}"} ${this.buckets[i]}`);
    out.push(`vigil_scan_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`);
    out.push(`vigil_scan_duration_seconds_sum ${this.latencySum}`);
    out.push(`vigil_scan_duration_seconds_count ${this.latencyCount}`);
    metric("vigil_queue_depth", "gauge", "Scans waiting for a slot (MaxQueue bounds it).");
    out.push(`vigil_queue_depth ${gauges.queueDepth}`);
    metric("vigil_scans_running", "gauge", "Scans running (MaxThreads bounds it).");
    out.push(`vigil_scans_running ${gauges.running}`);
    metric("vigil_connections", "gauge", "Open clamd protocol connections.");
    out.push(`vigil_connections ${gauges.connections}`);
    metric(
      "vigil_stream_memory_bytes",
      "gauge",
      "Bytes of incoming streams held in memory (--memory-budget bounds it).",
    );
    out.push(`vigil_stream_memory_bytes ${gauges.streamBytes ?? 0}`);
    metric(
      "vigil_spooled_streams_total",
      "counter",
      "Streams written to spool files (over --spool-threshold or the memory budget).",
    );
    out.push(`vigil_spooled_streams_total ${gauges.spooled ?? 0}`);
    metric("vigil_scan_threads", "gauge", "Scan worker threads running (they start under load and exit when idle).");
    out.push(`vigil_scan_threads ${gauges.scanThreads ?? 0}`);
    metric("vigil_signatures", "gauge", "Signatures loaded.");
    out.push(`vigil_signatures ${gauges.signatures}`);
    metric("vigil_reloads_total", "counter", "Successful rule reloads.");
    out.push(`vigil_reloads_total ${gauges.reloads}`);
    metric("vigil_uptime_seconds", "gauge", "Seconds since the daemon started.");
    out.push(`vigil_uptime_seconds ${((Date.now() - this.started) / 1000).toFixed(3)}`);
    return out.join("\n") + "\n";
  }
}
