/**
 * Path filters for --include/--exclude: globs (`*` within a path segment, `**` across
 * segments, `?`, `[...]`) and regular expressions. A glob without `/` is matched against the
 * base name; with `/` against the whole path (anchored at the end, so `src/*.js` matches
 * `/repo/src/a.js`). A regex is matched (unanchored) against the whole path.
 */
import { ScannerError } from "./error.js";

export type PathMatcher = (path: string) => boolean;

export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        i++;
        if (glob[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        re += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, close).replace(/\\/g, "\\\\");
      if (body.startsWith("!")) body = "^" + body.slice(1);
      re += `[${body}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return glob.includes("/") ? new RegExp(`(?:^|/)${re.replace(/^\//, "")}$`) : new RegExp(`^${re}$`);
}

export function globMatcher(glob: string): PathMatcher {
  const re = globToRegExp(glob);
  if (glob.includes("/")) return (p) => re.test(p);
  return (p) => re.test(p.slice(p.lastIndexOf("/") + 1));
}

export function regexMatcher(source: string): PathMatcher {
  let re: RegExp;
  try {
    re = new RegExp(source);
  } catch (err) {
    throw new ScannerError(
      "BAD_OPTION",
      `invalid regular expression ${JSON.stringify(source)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return (p) => re.test(p);
}

export interface PathFilterSpec {
  include?: string[];
  includeRegex?: string[];
  exclude?: string[];
  excludeRegex?: string[];
}

export interface PathFilter {
  /** True when the entry (file or directory) is excluded. */
  excluded(path: string): boolean;
  /** True when a file passes the include filters (always true without any). */
  included(path: string): boolean;
}

export function pathFilter(spec: PathFilterSpec = {}): PathFilter {
  const ex = [...(spec.exclude ?? []).map(globMatcher), ...(spec.excludeRegex ?? []).map(regexMatcher)];
  const inc = [...(spec.include ?? []).map(globMatcher), ...(spec.includeRegex ?? []).map(regexMatcher)];
  return {
    excluded: (p) => ex.some((m) => m(p)),
    included: (p) => inc.length === 0 || inc.some((m) => m(p)),
  };
}
