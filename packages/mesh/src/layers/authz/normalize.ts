// Request paths normalised before authorization, as Istio's `pathNormalization` does, so a rule cannot be slipped past by spelling.

/**
 * Istio's MeshConfig `pathNormalization.normalization` options. weft's default is
 * `MERGE_SLASHES` (Istio's default is `BASE`, which leaves `//admin` alone: Istio's own
 * guidance for CVE-2021-31920 is to merge slashes).
 */
export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export type NormalizedPath = { path: string } | { rejected: string };

/**
 * Envoy's `path_with_escaped_slashes_action`, for the modes that do not decode `%2F` and `%5C`:
 * leave them as they are, or refuse the request (400). DECODE_AND_MERGE_SLASHES decodes them whatever this says.
 */
export type EscapedSlashes = 'KEEP_UNCHANGED' | 'REJECT_REQUEST';

const ESCAPED_SLASH = /%(2f|5c)/i;

const HEX = /^[0-9a-fA-F]{2}$/;

/** Characters decoded under BASE (RFC 3986's unreserved set): `-`, `.`, `_`, `~`, digits and letters. */
function isUnreserved(code: number): boolean {
  return (
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e ||
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a)
  );
}

/** RFC 3986 §5.2.4: `.` and `..` segments removed; `..` above the root stays at the root. */
function removeDotSegments(path: string): string {
  const input = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const segment = input[i] as string;
    const last = i === input.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..' && out.length > 1) out.pop();
      // A trailing dot segment leaves the path ending in "/", as the RFC's algorithm does.
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * The path (query and fragment dropped) as authorization sees it and the application receives it.
 * A NUL (`%00`) is always refused, as Istio does. BASE decodes percent-encoded unreserved
 * characters once (never twice), turns `\` into `/` and resolves `.` and `..`; MERGE_SLASHES
 * also merges `//`; DECODE_AND_MERGE_SLASHES first decodes `%2F` and `%5C`.
 */
export function normalizePath(
  raw: string,
  mode: PathNormalization,
  escapedSlashes: EscapedSlashes = 'KEEP_UNCHANGED',
): NormalizedPath {
  const end = raw.search(/[?#]/);
  let path = end === -1 ? raw : raw.slice(0, end);
  if (/%00/.test(path) || path.includes('\0')) return { rejected: 'the path holds a NUL character (%00)' };
  if (escapedSlashes === 'REJECT_REQUEST' && mode !== 'DECODE_AND_MERGE_SLASHES' && ESCAPED_SLASH.test(path)) {
    return { rejected: 'the path holds an encoded slash or backslash (%2F, %5C)' };
  }
  if (mode === 'NONE') return { path };
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as string;
    if (c === '%' && HEX.test(path.slice(i + 1, i + 3))) {
      const code = Number.parseInt(path.slice(i + 1, i + 3), 16);
      const slash = code === 0x2f || code === 0x5c;
      if (isUnreserved(code) || (slash && mode === 'DECODE_AND_MERGE_SLASHES')) {
        decoded += String.fromCharCode(code);
        i += 2;
        continue;
      }
      // Anything else stays encoded, in upper case, so %2f and %2F read the same.
      decoded += `%${path.slice(i + 1, i + 3).toUpperCase()}`;
      i += 2;
      continue;
    }
    decoded += c;
  }
  path = decoded.replace(/\\/g, '/');
  if (mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES') path = path.replace(/\/{2,}/g, '/');
  path = removeDotSegments(path);
  if (mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES') path = path.replace(/\/{2,}/g, '/');
  return { path };
}
