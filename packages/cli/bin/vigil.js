#!/usr/bin/env node
// Entry point of the `vigil` command: the compiled CLI lives in ../dist.
import { main } from "../dist/index.js";
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`vigil: ${err?.stack ?? err}\n`); process.exitCode = 2; },
);
