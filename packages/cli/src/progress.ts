/**
 * The progress line drawn on stderr while scanning (only when stderr is a terminal): files
 * done of the pre-counted total, files/s, MB/s, detections, ETA and the current path, redrawn
 * at most every 150 ms on one line. Colour follows NO_COLOR / FORCE_COLOR.
 */
export interface ProgressStream {
  write(s: string): unknown;
  columns?: number;
}

export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return !!stream.isTTY && env.TERM !== "dumb";
}

export function paint(on: boolean, code: number, s: string): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "--:--";
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = Math.floor(s % 60);
  return h
    ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`
    : `${m}:${String(sec).padStart(2, "0")}`;
}

export class Progress {
  private files = 0;
  private bytes = 0;
  private found = 0;
  private total?: number;
  private current = "";
  private last = 0;
  private drawn = false;
  private readonly start = Date.now();

  constructor(
    private readonly out: ProgressStream,
    private readonly color = false,
    private readonly intervalMs = 150,
  ) {}

  setTotal(n: number): void {
    this.total = n;
  }

  update(path: string, bytes: number, detections: number): void {
    this.files++;
    this.bytes += bytes;
    this.found += detections;
    this.current = path;
    const now = Date.now();
    if (now - this.last >= this.intervalMs) {
      this.last = now;
      this.draw();
    }
  }

  line(): string {
    const secs = Math.max(0.001, (Date.now() - this.start) / 1000);
    const rate = this.files / secs;
    const mbs = this.bytes / (1024 * 1024) / secs;
    const of = this.total !== undefined ? `/${this.total}` : "";
    const eta = this.total !== undefined && rate > 0 ? ` ETA ${fmtDuration((this.total - this.files) / rate)}` : "";
    const found = this.found ? paint(this.color, 31, ` ${this.found} found`) : " 0 found";
    const head = `${this.files}${of} files ${rate.toFixed(0)} files/s ${mbs.toFixed(1)} MB/s${found}${eta} `;
    const width = (this.out.columns || 100) - 1;
    // eslint-disable-next-line no-control-regex
    const visible = head.replace(/\x1b\[[0-9;]*m/g, "").length;
    const room = Math.max(0, width - visible);
    // control characters and bytes of a name that are not UTF-8 (lone surrogates) as "?"
    const p = this.current.replace(/[\u0000-\u001f\u007f]|(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g, "?");
    return head + (p.length > room ? "…" + p.slice(p.length - room + 1) : p);
  }

  draw(): void {
    this.out.write(`\r\x1b[K${this.line()}`);
    this.drawn = true;
  }

  /** Erases the line (before printing a result line or the summary). */
  clear(): void {
    if (this.drawn) {
      this.out.write("\r\x1b[K");
      this.drawn = false;
    }
  }
}
