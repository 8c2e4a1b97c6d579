// The matchers an AuthorizationPolicy is made of, compiled once: Istio's string forms, path templates, and IP blocks.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type StringMatcher = (value: string | undefined) => boolean;

/**
 * Istio's string match: `*` is presence (any non-empty value), `abc*` a prefix, `*abc` a
 * suffix, anything else exact. `ignoreCase` for hosts, which match case-insensitively.
 */
export function stringMatcher(pattern: string, ignoreCase = false): StringMatcher {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const norm = ignoreCase ? (v: string) => v.toLowerCase() : (v: string) => v;
  if (p === '*') return (v) => v !== undefined && v !== '';
  if (p.length > 1 && p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => v !== undefined && norm(v).startsWith(prefix);
  }
  if (p.length > 1 && p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => v !== undefined && norm(v).endsWith(suffix);
  }
  return (v) => v !== undefined && norm(v) === p;
}

/**
 * A `paths` entry: Istio's string forms, or a template with `{*}` (exactly one segment) and a
 * final `{**}` (the rest of the path, one or more segments).
 */
export function pathMatcher(pattern: string): StringMatcher {
  if (!pattern.includes('{*')) return stringMatcher(pattern);
  const source = pattern
    .split('/')
    .map((segment) => {
      if (segment === '{*}') return '[^/]+';
      if (segment === '{**}') return '.+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  const re = new RegExp(`^${source}$`);
  return (v) => v !== undefined && re.test(v);
}

/** One `from`/`to` field: any of `values` and none of `notValues` (an absent list does not constrain). */
export function anyOf(
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  make: (pattern: string) => StringMatcher,
): StringMatcher | undefined {
  if (values === undefined && notValues === undefined) return undefined;
  const yes = values?.map(make);
  const no = notValues?.map(make);
  return (v) => {
    if (yes !== undefined && !yes.some((m) => m(v))) return false;
    if (no?.some((m) => m(v))) return false;
    return true;
  };
}

/** `ipBlocks`-style entries: addresses or CIDR ranges, IPv4 and IPv6 (node:net's BlockList does the arithmetic). */
export function ipMatcher(blocks: readonly string[]): StringMatcher {
  const list = new BlockList();
  for (const block of blocks) {
    const [address, prefix] = block.split('/') as [string, string | undefined];
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (v) => {
    if (v === undefined || v === '') return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    const ip = v.startsWith('::ffff:') && isIPv4(v.slice(7)) ? v.slice(7) : v;
    return list.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  };
}
