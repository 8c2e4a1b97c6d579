// Parsing and checking of names and addresses: DNS labels, service hosts and `host:port`.
import { isIPv4, isIPv6 } from 'node:net';

/** RFC 1123 label, as Kubernetes requires of service and namespace names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

export const DNS_LABEL_EXPECTED =
  'a DNS label: 1 to 63 lower-case letters, digits or "-", starting and ending with a letter or digit';

export interface ParsedAddress {
  host: string;
  port: number;
  /** Normalised `host:port`, IPv6 in brackets. */
  address: string;
}

export const ADDRESS_EXPECTED = '"host:port", e.g. "127.0.0.1:9081", "[::1]:9081" or "reviews-1.local:9081"';

/** Parses `host:port`; returns a reason string when it is not one. */
export function parseAddress(value: string): ParsedAddress | string {
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') return 'an IPv6 address must be written "[addr]:port"';
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    if (!isIPv6(host)) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return 'the port is missing';
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) return 'an IPv6 address must be written "[addr]:port"';
    if (!isIPv4(host) && !DNS_NAME.test(host)) return `"${host}" is neither an IPv4 address nor a host name`;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return `the port "${portText}" is not a number`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `the port ${port} is outside 1-65535`;
  return { host, port, address: isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}` };
}

/**
 * The host names under which a service is reachable, shortest first, the way Kubernetes DNS
 * resolves them from a workload in `namespace`: `reviews`, `reviews.default`,
 * `reviews.default.svc`, `reviews.default.svc.cluster.local`.
 */
export function serviceAliases(name: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  const parts = name.split('.');
  const service = parts[0] as string;
  const ns = parts[1] ?? namespace;
  const fqdn = `${service}.${ns}.svc.${clusterDomain}`;
  const aliases = [`${service}.${ns}`, `${service}.${ns}.svc`, fqdn];
  if (ns === namespace) aliases.unshift(service);
  return aliases;
}

/** `reviews`, `reviews.other` or a full `reviews.other.svc.cluster.local`: the forms a service key may take. */
export function checkServiceHost(value: string, clusterDomain = 'cluster.local'): string | undefined {
  const parts = value.split('.');
  if (parts.length === 1 || parts.length === 2) {
    const bad = parts.find((p) => !isDnsLabel(p));
    return bad === undefined ? undefined : `"${bad}" is not ${DNS_LABEL_EXPECTED}`;
  }
  const suffix = `svc.${clusterDomain}`;
  if (parts.length >= 3 && parts.slice(2).join('.') === suffix && parts.slice(0, 2).every(isDnsLabel)) {
    return undefined;
  }
  return `a service is named "name", "name.namespace" or "name.namespace.${suffix}"`;
}

/** The port of an authority: the one written, else the scheme's (80, 443). */
export function portOf(authority: string, scheme: 'http' | 'https'): number {
  const bracketed = authority.charCodeAt(0) === 91; /* [ */
  const end = bracketed ? authority.indexOf(']') + 1 : authority.indexOf(':');
  const colon = bracketed ? (authority.charCodeAt(end) === 58 ? end : -1) : end;
  return colon < 0 ? (scheme === 'https' ? 443 : 80) : Number(authority.slice(colon + 1));
}

/** Strips a `:port` from an authority (`reviews:9080` → `reviews`, `[::1]:80` → `::1`). */
export function hostOf(authority: string): string {
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const close = authority.indexOf(']');
    return close < 0 ? authority : authority.slice(1, close);
  }
  const colon = authority.indexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}
