/**
 * The npm `clamscan` package (the most used Node clamd client) against Vigil and against
 * Debian's clamd on the same signatures, in its unix-socket and TCP modes: isInfected,
 * scanStream, scanDir, getVersion give the same verdicts and names.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync, writeFileSync, createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { join } from "node:path";
// @ts-expect-error the package ships no types
import NodeClam from "clamscan";
import { needs } from "@vigil/test-kit";
import { startDaemon, talk, tempDir, type Running } from "./helpers.js";

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

interface Client {
  isInfected(path: string): Promise<{ isInfected: boolean | null; viruses: string[] }>;
  scanStream(s: Readable): Promise<{ isInfected: boolean | null; viruses: string[] }>;
  scanDir(path: string): Promise<{ viruses: string[]; badFiles: string[]; goodFiles: string[] }>;
  getVersion(): Promise<string>;
}

async function client(where: { socket?: string; port?: number }): Promise<Client> {
  return new NodeClam().init({
    removeInfected: false,
    scanRecursively: true,
    debugMode: false,
    clamscan: { active: false },
    clamdscan: {
      ...(where.socket ? { socket: where.socket } : { host: "127.0.0.1", port: where.port }),
      timeout: 15_000,
      localFallback: false,
      multiscan: true,
      active: true,
      bypassTest: false,
    },
    preference: "clamdscan",
  }) as Promise<Client>;
}

describe.skipIf(needs("npm clamscan 2: Vigil vs clamd", { tools: ["clamd"] }))("npm clamscan 2: Vigil vs clamd", () => {
  let files: ReturnType<typeof tempDir>;
  let vigil: Running;
  let clamd: ChildProcess;
  let realPort: number;
  let realSock: string;
  const MARK = "VIGIL-NPM-CLAMSCAN-MARKER";

  beforeAll(async () => {
    files = tempDir();
    const db = join(files.dir, "db");
    mkdirSync(db);
    writeFileSync(join(db, "t.ndb"), `Custom.Npm.Marker-1:0:*:${Buffer.from(MARK).toString("hex")}\n`);
    files.file("tree/infected.txt", `xx ${MARK} yy\n`);
    files.file("tree/clean.txt", "clean\n");
    files.file("cleantree/a.txt", "a\n");
    vigil = await startDaemon({ signatures: { builtin: false, databases: [db] }, jobs: 1 });
    realPort = await freePort();
    realSock = join(files.dir, "real.sock");
    const conf = files.file(
      "clamd.conf",
      [
        "Foreground yes",
        `TCPSocket ${realPort}`,
        "TCPAddr 127.0.0.1",
        `LocalSocket ${realSock}`,
        `DatabaseDirectory ${db}`,
        `LogFile ${join(files.dir, "clamd.log")}`,
      ].join("\n") + "\n",
    );
    clamd = spawn("clamd", ["-c", conf], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      if ((await talk(realPort, ["zPING\0"], 500)).text === "PONG\0") break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  afterAll(async () => {
    clamd?.kill("SIGTERM");
    await vigil?.stop();
    files?.cleanup();
  });

  for (const mode of ["socket", "tcp"] as const) {
    it(`${mode} mode: isInfected, scanStream, scanDir and getVersion agree with clamd`, async () => {
      const v = await client(mode === "socket" ? { socket: vigil.sock } : { port: vigil.port });
      const c = await client(mode === "socket" ? { socket: realSock } : { port: realPort });
      const infected = join(files.dir, "tree/infected.txt");
      const clean = join(files.dir, "tree/clean.txt");
      const pick = (r: { isInfected: boolean | null; viruses: string[] }) => ({
        isInfected: r.isInfected,
        viruses: r.viruses,
      });
      for (const p of [infected, clean]) {
        const [a, b] = [pick(await v.isInfected(p)), pick(await c.isInfected(p))];
        expect(a).toEqual(b);
      }
      expect(pick(await v.isInfected(infected))).toEqual({
        isInfected: true,
        viruses: ["Custom.Npm.Marker-1.UNOFFICIAL"],
      });
      for (const make of [() => createReadStream(infected), () => Readable.from([Buffer.from("nothing")])]) {
        expect(pick(await v.scanStream(make()))).toEqual(pick(await c.scanStream(make())));
      }
      expect(pick(await v.scanStream(createReadStream(infected)))).toEqual({
        isInfected: true,
        viruses: ["Custom.Npm.Marker-1.UNOFFICIAL"],
      });
      for (const d of ["tree", "cleantree"]) {
        const [a, b] = [await v.scanDir(join(files.dir, d)), await c.scanDir(join(files.dir, d))];
        expect(a).toEqual(b);
      }
      expect(await v.scanDir(join(files.dir, "tree"))).toMatchObject({
        badFiles: [infected],
        goodFiles: [clean],
        viruses: ["Custom.Npm.Marker-1.UNOFFICIAL"],
      });
      expect(await v.getVersion()).toMatch(/^ClamAV 1\.4\.6/);
      expect(await c.getVersion()).toMatch(/^ClamAV 1\.4\.6/);
    });
  }
});
