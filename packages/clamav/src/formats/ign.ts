/**
 * `.ign2` (and the older `.ign`) ignore lists: one signature name a line, optionally bound to the
 * md5 of the whole signature line it drops (`Name:md5`). The database loader reads them first
 * and applies them to every other file.
 */

import { createHash } from "node:crypto";

/** An ignore list: names, each optionally bound to the md5 of the whole signature line. */
export class IgnoreList {
  private readonly entries = new Map<string, Set<string> | true>();
  add(name: string, md5?: string): void {
    const e = this.entries.get(name);
    if (md5 === undefined) this.entries.set(name, true);
    else if (e !== true) this.entries.set(name, (e ?? new Set<string>()).add(md5.toLowerCase()));
  }
  get size(): number {
    return this.entries.size;
  }
  names(): Set<string> {
    return new Set(this.entries.keys());
  }
  matches(name: string, line: string): boolean {
    const e = this.entries.get(name);
    if (e === undefined) return false;
    if (e === true) return true;
    return e.has(createHash("md5").update(line).digest("hex"));
  }
}
