/** The member an unpacker's result yields, the same for every packer that has no more to say. */
import { overLimit, type Member } from "../types.js";

/**
 * The unpacked program as member `name`; or why it was not unpacked (`failed`: "MEW-packed
 * executable not unpacked", then the error; "unsupported" when the unpacker says so, else
 * damage); or, with neither, the output cap `limit` that stopped it.
 */
export function unpackedMember(
  name: string,
  failed: string,
  r: { data?: Uint8Array; error?: string; unsupported?: boolean },
  compressedSize: number,
  limit: number,
): Member {
  if (r.data) return { name, data: r.data, compressedSize };
  if (r.error)
    return {
      name,
      compressedSize,
      problem: { reason: r.unsupported ? "unsupported" : "corrupt-archive", message: `${failed}: ${r.error}` },
    };
  return overLimit(name, compressedSize, limit);
}

/**
 * The member of an unpacker that unpacks what there is of a file cut short (ASPack, Petite): the
 * program, with the cut reported as damage beside it; or why it was not unpacked (the cut
 * added); or a form not unpacked (`unsupported`: why); or, with none, the output cap `limit`.
 */
export function rebuiltMember(
  name: string,
  r: { data?: Uint8Array; error?: string; unsupported?: string },
  cutShort: boolean,
  compressedSize: number,
  limit: number,
): Member {
  const cut = cutShort ? " (the file is cut short: section data runs past its end)" : "";
  const problem = (reason: "corrupt-archive" | "unsupported", why: string): Member["problem"] => ({
    reason,
    message: `${name}-packed executable not ${r.data ? "fully " : ""}unpacked: ${why}`,
  });
  if (r.data)
    return {
      name,
      data: r.data,
      compressedSize,
      ...(cut ? { problem: problem("corrupt-archive", `${name}: unpacked from what is there${cut}`) } : {}),
    };
  if (r.error) return { name, compressedSize, problem: problem("corrupt-archive", r.error + cut) };
  if (r.unsupported) return { name, compressedSize, problem: problem("unsupported", r.unsupported) };
  return overLimit(name, compressedSize, limit);
}
