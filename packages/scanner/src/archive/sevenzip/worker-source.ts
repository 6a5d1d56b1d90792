/**
 * The body of the thread that runs 7-Zip (the `7z-wasm` build of 7-Zip 24.09) on one archive at
 * a time. Plain JavaScript in a string, evaluated by `new Worker(..., { eval: true })`, so it
 * runs the same from the TypeScript sources (tests) and from the build.
 *
 * Request: { data, type, cap, password } on the port. The archive is written to an in-memory
 * file system and extracted (`x`) into /o; it is listed (`l -slt`) only when the extraction was
 * not clean ("Everything is Ok", no error or warning line, as many files written as 7-Zip
 * counted, nothing but files and folders): each run of 7-Zip costs its start-up, so a clean
 * archive is read in one run instead of two, and `list` is then null. Every write
 * into /o is counted: past `cap` bytes in total the write fails (EFBIG), 7-Zip stops, and the
 * file being written is named in `over`. Reply: { list, log, files, dirs, over } on the port, then
 * the shared flag is set and notified (the caller waits on it synchronously). After 16 C++
 * exceptions or aborts escaped 7-Zip, after 400 calls or with a heap past 256 MiB, the reply says
 * `recycle` and the caller replaces the worker.
 */
export const WORKER_SOURCE = String.raw`
const { workerData } = require("node:worker_threads");
const { port, flag, modulePath, wasm } = workerData;
const SevenZip = require(modulePath);
let lines = [];
let budget = null;
let thrown = 0;
let calls = 0;
let wasmExports;
const ready = SevenZip({
  print: (s) => lines.push(s),
  printErr: (s) => lines.push(s),
  stdin: () => null,
  // the module compiled once by the caller; its exports give the stack pointer (see run)
  instantiateWasm(imports, ok) {
    const instance = new WebAssembly.Instance(wasm, imports);
    wasmExports = instance.exports;
    ok(instance, wasm);
    return instance.exports;
  },
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

// returns false when 7-Zip wrote something that is neither a file nor a folder (a link)
function collect(FS, dir, rel, out, dirs) {
  let plain = true;
  for (const n of FS.readdir(dir)) {
    if (n === "." || n === "..") continue;
    const p = dir + "/" + n;
    const st = FS.lstat(p);
    const r = rel ? rel + "/" + n : n;
    if (FS.isDir(st.mode)) {
      dirs.push(r);
      plain = collect(FS, p, r, out, dirs) && plain;
    }
    else if (FS.isFile(st.mode)) out.push({ path: r, data: FS.readFile(p) });
    else plain = false;
  }
  return plain;
}

// an extraction that needs no listing: 7-Zip said "Everything is Ok", printed no error or
// warning, and wrote as many files as it counted ("Files: N"; one file when it prints no count)
function clean(log, files) {
  let ok = false;
  let counted;
  let folders = false;
  for (const raw of log) {
    const l = raw.trim();
    if (l === "Everything is Ok") ok = true;
    else if (/^(ERROR|WARNING|Open ERROR|THROWN|Sub items Errors|Archives with)/i.test(l)) return false;
    else if (/^Files: \d+$/.test(l)) counted = Number(l.slice(7));
    else if (/^Folders: \d+$/.test(l)) folders = true;
  }
  if (!ok) return false;
  return files === (counted ?? (folders ? 0 : 1));
}

// 7-Zip ends with exit() on errors, which unwinds without restoring the WebAssembly stack
// pointer: left alone, about 120 damaged archives in a row overflow the stack into the heap
// (memory corruption, then a hang). The pointer is saved and restored around every run.
function run(m, args) {
  lines = [];
  calls++;
  const sp = wasmExports.emscripten_stack_get_current();
  try {
    m.callMain(args);
  } catch (e) {
    // a C++ exception (this build cannot catch them: 7-Zip's own error paths end here, as on
    // truncated data) or an abort: after a few, the worker is replaced
    thrown++;
    lines.push("THROWN: " + (e && e.message ? e.message : String(e)));
  } finally {
    wasmExports._emscripten_stack_restore(sp);
    // files 7-Zip left open when it was unwound
    for (const st of m.FS.streams) if (st && st.fd > 2) try { m.FS.close(st); } catch {}
  }
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
    FS.mkdir("/o");
    budget = { used: 0, cap: req.cap, over: undefined };
    const log = run(m, ["x", "-o/o", ...common, "/in"]);
    const over = budget.over;
    budget = null;
    const files = [];
    const dirs = [];
    const plain = collect(FS, "/o", "", files, dirs);
    const list = over === undefined && plain && clean(log, files.length) ? null : run(m, ["l", "-slt", ...common, "/in"]);
    // the file that passed the cap is not sent back: it is reported, not scanned
    const sent = files.filter((f) => f.path !== over);
    rmrf(FS, "/o");
    rmrf(FS, "/in");
    // exit() also skips destructors: the heap leaks a little on every damaged archive, so the
    // worker is replaced after a while, or when 7-Zip's memory has grown large
    const recycle = thrown >= 16 || calls >= 400 || wasmExports.memory.buffer.byteLength > 256 * 1024 * 1024;
    reply = { list, log, files: sent, dirs, over, recycle };
  } catch (e) {
    reply = { failed: String(e && e.stack ? e.stack : e) };
  }
  // the files' buffers are moved, not copied
  port.postMessage(reply, reply.files ? reply.files.map((f) => f.data.buffer) : []);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;
