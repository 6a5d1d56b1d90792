/** Test helpers: a daemon on free ports in a temp dir, and a raw socket client. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Daemon, type DaemonOptions } from "@vigil/daemon";

export interface Running {
  daemon: Daemon;
  port: number;
  sock: string;
  http?: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startDaemon(opts: Partial<DaemonOptions> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-daemon-test-"));
  const sock = join(dir, "clamd.sock");
  const daemon = new Daemon({ signatures: {}, jobs: 0, tcp: ["127.0.0.1:0"], socket: [sock], ...opts });
  const a = await daemon.start();
  const port = Number(a.clamd.find((x) => x.startsWith("127.0.0.1:"))!.split(":")[1]);
  return {
    daemon,
    port,
    sock,
    dir,
    ...(a.http ? { http: a.http } : {}),
    async stop() {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { scratchDir as tempDir, talk, chunked, u32, type Exchange, type Step } from "@vigil/test-kit";
