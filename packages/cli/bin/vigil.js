#!/usr/bin/env node
// Entry point of the `vigil` command: the compiled CLI lives in ../dist. main() reports a
// command's failures itself (src/fail.ts); this is the last resort, one line unless VIGIL_DEBUG=1.
import { commandLine, main } from "../dist/index.js";
// commandLine(): arguments with bytes that are not UTF-8 (a file name) are kept exactly
main(commandLine()).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const debug = process.env.VIGIL_DEBUG && process.env.VIGIL_DEBUG !== "0";
    process.stderr.write(`vigil: internal error: ${(debug ? err?.stack : err?.message) ?? err}\n`);
    process.exitCode = 2;
  },
);
