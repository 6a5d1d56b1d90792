/** Shannon entropy in bits per byte (0..8) over at most `sample` bytes from the start. */
export function entropy(b: Uint8Array, sample = 65536): number {
  const n = Math.min(b.length, sample);
  if (n === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < n; i++) counts[b[i]!]!++;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c) {
      const p = c / n;
      h -= p * Math.log2(p);
    }
  }
  return h;
}
