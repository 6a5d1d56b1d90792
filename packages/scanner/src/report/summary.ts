/** Running totals of a scan and the clamscan-style summary block. */
import type { FileResult } from "../types.js";

export class ScanStats {
  files = 0;
  dirs = 0;
  infected = 0;
  detections = 0;
  errors = 0;
  incomplete = 0;
  cached = 0;
  skipped = 0;
  bytesRead = 0;
  bytesScanned = 0;
  interrupted = false;
  readonly start = new Date();
  end?: Date;

  add(r: FileResult): void {
    if (r.errors.length && !r.stat && r.size === 0 && !r.detections.length) {
      this.errors += r.errors.length;
      return;
    }
    this.files++;
    if (r.detections.length) this.infected++;
    this.detections += r.detections.length;
    this.errors += r.errors.length;
    if (r.incomplete.length) this.incomplete++;
    if (r.cached) this.cached++;
    this.bytesRead += r.cached ? 0 : r.size;
    this.bytesScanned += r.scannedBytes;
  }

  /** clamscan's rule: detections win over errors. */
  exitCode(): number {
    if (this.infected) return 1;
    if (this.errors) return 2;
    return 0;
  }

  toJSON(): Record<string, unknown> {
    return {
      files: this.files,
      directories: this.dirs,
      infected: this.infected,
      detections: this.detections,
      errors: this.errors,
      notFullyScanned: this.incomplete,
      cached: this.cached,
      skipped: this.skipped,
      bytesRead: this.bytesRead,
      bytesScanned: this.bytesScanned,
      interrupted: this.interrupted,
      start: this.start.toISOString(),
      end: (this.end ?? new Date()).toISOString(),
      seconds: ((this.end ?? new Date()).getTime() - this.start.getTime()) / 1000,
    };
  }
}

function clamDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}:${p(d.getMonth() + 1)}:${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function summaryText(stats: ScanStats, info: { signatures: number; engineVersion: string }): string {
  const end = stats.end ?? new Date();
  const secs = (end.getTime() - stats.start.getTime()) / 1000;
  const mb = (n: number) => (n / (1024 * 1024)).toFixed(2);
  const lines = [
    "",
    stats.interrupted ? "----------- SCAN SUMMARY (interrupted) -----------" : "----------- SCAN SUMMARY -----------",
    `Known viruses: ${info.signatures}`,
    `Engine version: ${info.engineVersion}`,
    `Scanned directories: ${stats.dirs}`,
    `Scanned files: ${stats.files}`,
    `Infected files: ${stats.infected}`,
  ];
  if (stats.errors) lines.push(`Total errors: ${stats.errors}`);
  if (stats.incomplete) lines.push(`Not fully scanned: ${stats.incomplete}`);
  if (stats.cached) lines.push(`Unchanged (cached): ${stats.cached}`);
  const ratio = stats.bytesRead ? (stats.bytesScanned / stats.bytesRead).toFixed(2) : "0.00";
  lines.push(
    `Data scanned: ${mb(stats.bytesScanned)} MB`,
    `Data read: ${mb(stats.bytesRead)} MB (ratio ${ratio}:1)`,
    `Time: ${secs.toFixed(3)} sec (${Math.floor(secs / 60)} m ${Math.floor(secs % 60)} s)`,
    `Start Date: ${clamDate(stats.start)}`,
    `End Date:   ${clamDate(end)}`,
  );
  return lines.join("\n") + "\n";
}
