/** `vigil daemon` end to end through the built bin (run `npx tsc -b` first). */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chunked, scratchDir as tempDir, talk } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

function start(args: string[]) {
  const p = spawn(process.execPath, [BIN, "daemon", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr.on("data", (b) => (err += b));
  const exit = new Promise<number | null>((r) => p.on("exit", (c) => r(c)));
  const until = async (re: RegExp) => {
    for (let i = 0; i < 300 && !re.test(err); i++) await new Promise((r) => setTimeout(r, 50));
    return re.exec(err);
  };
  return { p, exit, until, stderr: () => err };
}

describe("vigil daemon (CLI)", () => {
  it("serves clamd on TCP and a unix socket and HTTP, reloads on SIGHUP, stops on SIGTERM with exit 0", async () => {
    const files = tempDir();
    const rules = files.file("r.yar", 'rule First_Rule { strings: $a = "MARK-ONE" condition: $a }\n');
    const sock = `${files.dir}/d.sock`;
    const d = start([
      "--tcp",
      "127.0.0.1:0",
      "--socket",
      sock,
      "--http",
      "127.0.0.1:0",
      "--rules",
      rules,
      "--no-builtin",
      "-j",
      "1",
      "--no-cache",
    ]);
    const m = await d.until(/clamd protocol on 127\.0\.0\.1:(\d+)/);
    expect(m, d.stderr()).toBeTruthy();
    const port = Number(m![1]);
    expect(d.stderr()).toMatch(/HTTP API on http:\/\/127\.0\.0\.1:\d+/);
    expect((await talk(sock, ["zPING\0"])).text).toBe("PONG\0");
    expect((await talk(port, ["zINSTREAM\0", chunked("MARK-ONE MARK-TWO")])).text).toBe("stream: First_Rule FOUND\0");
    writeFileSync(rules, 'rule Second_Rule { strings: $a = "MARK-TWO" condition: $a }\n');
    d.p.kill("SIGHUP");
    expect(await d.until(/rules reloaded/)).toBeTruthy();
    expect((await talk(port, ["zINSTREAM\0", chunked("MARK-ONE MARK-TWO")])).text).toBe("stream: Second_Rule FOUND\0");
    d.p.kill("SIGTERM");
    expect(await d.exit).toBe(0);
    files.cleanup();
  });

  it("exits 2 with a clear message on bad options, an HTTP API off loopback without a token, or a busy port", async () => {
    const bad = start(["--max-threads", "zero"]);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toMatch(/--max-threads must be a whole number/);
    const open = start(["--tcp", "127.0.0.1:0", "--http", "0.0.0.0:0", "-j", "0"]);
    expect(await open.exit).toBe(2);
    expect(open.stderr()).toMatch(/bearer token/);
    const first = start(["--tcp", "127.0.0.1:0", "-j", "0"]);
    const port = (await first.until(/clamd protocol on 127\.0\.0\.1:(\d+)/))![1];
    const second = start(["--tcp", `127.0.0.1:${port}`, "-j", "0"]);
    expect(await second.exit).toBe(2);
    expect(second.stderr()).toMatch(/cannot listen.*EADDRINUSE/);
    expect((await talk(Number(port), ["zSHUTDOWN\0"])).text).toBe("");
    expect(await first.exit).toBe(0);
  });
});
