// A small, fast, seeded string hash (MurmurHash3 x86_32) for the consistent-hash pickers.
//
// Hand-written because no maintained tiny hash package is installed and node:crypto's digests
// allocate and cost far more than a few multiplies on the hot path. The hashes only need to be
// stable within weft (every process computes the same value for the same string); they are not
// Envoy's xxHash values, so weft and a sidecar do not place a given key on the same host.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * MurmurHash3 x86_32 of `text`, read as UTF-16 code units two to a 32-bit block (so no
 * UTF-8 encoding step). Returns an unsigned 32-bit integer.
 */
export function murmur3(text: string, seed = 0): number {
  let h = seed >>> 0;
  const n = text.length;
  const blocks = n & ~1;
  for (let i = 0; i < blocks; i += 2) {
    let k = (text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16)) >>> 0;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (blocks !== n) {
    let k = text.charCodeAt(blocks);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= n * 2; // length in bytes
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
