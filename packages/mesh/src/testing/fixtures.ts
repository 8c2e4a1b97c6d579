// Fixtures the mesh's unit tests share: a seeded random source and a compiled route. Not part of the build.
import type { Endpoint, WeftRequest } from '@weft/core';
import type { HTTPRoute } from '@weft/policy';
import type { CompiledRoute } from '../routing/model.js';

/** mulberry32: a small seeded generator, so statistical tests draw the same numbers every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A route as the route layer leaves it in `ctx.route`, with `http` as given and nothing matched or weighted. */
export function compiledRoute(
  http: Partial<HTTPRoute> | Record<string, unknown>,
  virtualService = 'default/reviews',
): CompiledRoute {
  return {
    virtualService,
    index: 0,
    name: undefined,
    origin: 'test',
    http: http as HTTPRoute,
    annotations: {},
    matches: [],
    destinations: [],
    totalWeight: 0,
    uriGates: undefined,
  };
}

/** A bodiless GET to the logical service `reviews`, as an adapter would hand it down. */
export const getReviews: WeftRequest = Object.freeze({
  method: 'GET',
  scheme: 'http',
  authority: 'reviews',
  path: '/',
  headers: {},
  body: null,
}) as WeftRequest;

/** An endpoint at `host:port` with no labels or locality. */
export function endpointAt(port: number, weight = 1, host = '127.0.0.1'): Endpoint {
  return { address: `${host}:${port}`, host, port, labels: {}, locality: '', weight };
}
