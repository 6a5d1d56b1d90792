/** What every inventory source produces: one entry per installed piece of software. */
export type SourceKind =
  | "dpkg"
  | "rpm"
  | "apk"
  | "snap"
  | "flatpak"
  | "python"
  | "npm"
  | "systemd"
  | "kernel-module"
  | "windows-registry"
  | "macos-app";

export interface InventoryEntry {
  /** the package, unit, module or application name as its source names it. */
  name: string;
  version?: string;
  /** vendor, publisher, maintainer or author, as recorded by the source. */
  vendor?: string;
  /** where it is installed (a directory, a unit file, a module file), relative to the scanned root shown as absolute. */
  installPath?: string;
  source: SourceKind;
  /**
   * when it was installed or last updated, as far as the source records it (ISO 8601): dpkg's
   * .list file time, rpm's INSTALLTIME, the registry's InstallDate, a snap revision's directory.
   */
  installedAt?: string;
  /** files the source says belong to the entry (dpkg .list, apk R: lines), when known. */
  files?: string[];
  /** source-specific extras (e.g. architecture, description, unit ExecStart). */
  extra?: Record<string, string>;
}

/** A problem met while reading one source: the inventory goes on without it. */
export interface SourceProblem {
  source: SourceKind;
  path: string;
  message: string;
}

export interface SourceResult {
  entries: InventoryEntry[];
  problems: SourceProblem[];
}
