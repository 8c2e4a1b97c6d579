// Istio's header operations (set, add, remove) on a request's or a response's headers.
import { copyHeaders, type WeftHeaders } from '@weft/core';

export interface HeaderOperations {
  set?: Record<string, string> | undefined;
  add?: Record<string, string> | undefined;
  remove?: string[] | undefined;
}

/** A copy of `headers` with the operations applied: set replaces, add appends, remove deletes. */
export function applyHeaderOperations(headers: WeftHeaders, ops: HeaderOperations): WeftHeaders {
  const out = copyHeaders(headers);
  for (const [name, value] of Object.entries(ops.set ?? {})) out[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(ops.add ?? {})) {
    const key = name.toLowerCase();
    const current = out[key];
    out[key] = current === undefined ? value : Array.isArray(current) ? [...current, value] : [current, value];
  }
  for (const name of ops.remove ?? []) delete out[name.toLowerCase()];
  return out;
}
