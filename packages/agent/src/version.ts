/**
 * This package's version, read once from its package.json: the one place it is written. src/
 * (tests) and dist/ (the build) both sit one level below package.json, so the path holds for both.
 */
import { createRequire } from "node:module";

export const VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
