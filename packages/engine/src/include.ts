/**
 * The engine's only contact with the file system: reading `include`d rule files. Kept apart
 * so that the compiler itself stays pure; callers can pass their own `readFile`.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

export function defaultReadFile(path: string): Uint8Array {
  return readFileSync(path);
}
export function dirnameOf(path: string): string {
  return dirname(path);
}
export function resolvePath(base: string, path: string): string {
  return resolve(base, path);
}
