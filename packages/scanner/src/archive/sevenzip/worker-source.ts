/**
 * The body of the thread that runs 7-Zip (the `7z-wasm` build of 7-Zip 24.09) on one archive at
 * a time. Plain JavaScript in a string, evaluated by `new Worker(..., { eval: true })`, so it
 * runs the same from the TypeScript sources (tests) and from the build.
 *
 * Request: { data, type, cap, password } on the port. The archive is written to an in-memory
 * file system, listed (`l -slt`), then extracted (`x`) into /o. Every write
 * into /o is counted: past `cap` bytes in total the write fails (EFBIG), 7-Zip stops, and the
 * file being written is named in `over`. Reply: { list, log, files, dirs, over } on the port, then
 * the shared flag is set and notified (the caller waits on it synchronously).
 */
export const WORKER_SOURCE = String.raw`
const { workerData } = require("node:worker_threads");
const { port, flag, modulePath } = workerData;
const SevenZip = require(modulePath);
let lines = [];
let budget = null;
const ready = SevenZip({
  print: (s) => lines.push(s),
  printErr: (s) => lines.push(s),
  stdin: () => null,
}).then((m) => {
  const FS = m.FS;
  const write = FS.write;
  FS.write = function (stream, buffer, offset, length, position, canOwn) {
    if (budget && typeof stream.path === "string" && stream.path.startsWith("/o/")) {
      if (budget.used + length > budget.cap) {
        budget.over = stream.path.slice(3);
        throw new FS.ErrnoError(22);
      }
      budget.used += length;
    }
    return write.call(this, stream, buffer, offset, length, position, canOwn);
  };
  return m;
});

function rmrf(FS, path) {
  let st;
  try { st = FS.lstat(path); } catch { return; }
  if (FS.isDir(st.mode)) {
    for (const n of FS.readdir(path)) if (n !== "." && n !== "..") rmrf(FS, path + "/" + n);
    FS.rmdir(path);
  } else FS.unlink(path);
}

function collect(FS, dir, rel, out, dirs) {
  for (const n of FS.readdir(dir)) {
    if (n === "." || n === "..") continue;
    const p = dir + "/" + n;
    const st = FS.lstat(p);
    const r = rel ? rel + "/" + n : n;
    if (FS.isDir(st.mode)) {
      dirs.push(r);
      collect(FS, p, r, out, dirs);
    }
    else if (FS.isFile(st.mode)) out.push({ path: r, data: FS.readFile(p) });
  }
}

function run(m, args) {
  lines = [];
  try { m.callMain(args); } catch (e) { lines.push("THROWN: " + (e && e.message ? e.message : String(e))); }
  return lines;
}

port.on("message", async (req) => {
  let reply;
  try {
    const m = await ready;
    const FS = m.FS;
    rmrf(FS, "/o");
    rmrf(FS, "/in");
    FS.writeFile("/in", req.data);
    const common = ["-t" + req.type, "-p" + req.password, "-bd", "-bso1", "-bse1", "-bsp0", "-sccUTF-8", "-y"];
    const list = run(m, ["l", "-slt", ...common, "/in"]);
    FS.mkdir("/o");
    budget = { used: 0, cap: req.cap, over: undefined };
    const log = run(m, ["x", "-o/o", ...common, "/in"]);
    const over = budget.over;
    budget = null;
    const files = [];
    const dirs = [];
    collect(FS, "/o", "", files, dirs);
    // the file that passed the cap is not sent back: it is reported, not scanned
    const sent = files.filter((f) => f.path !== over);
    rmrf(FS, "/o");
    rmrf(FS, "/in");
    reply = { list, log, files: sent, dirs, over };
  } catch (e) {
    reply = { failed: String(e && e.stack ? e.stack : e) };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;
