import type { WeftRequest } from '@weft/core';
import type { HTTPMatchRequest } from '@weft/policy';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findRoute } from '../layers/route/index.js';
import { compileMatch } from './match.js';
import type { CompiledRoute } from './model.js';
import { RouteIndex, type RouteTable } from './table.js';

const source = { labels: { app: 'test' }, namespace: 'default' };

function route(index: number, match: HTTPMatchRequest[] | undefined): CompiledRoute {
  const list = match ?? [];
  const gates = list.map((m) => m.uri?.exact ?? m.uri?.prefix);
  return {
    virtualService: 'default/t',
    index,
    name: undefined,
    origin: 'test',
    http: { match, route: [{ destination: { host: 'x' } }] },
    matches: list.map(compileMatch),
    destinations: [],
    totalWeight: 0,
    annotations: {},
    uriGates: list.length > 0 && gates.every((g) => g !== undefined) ? (gates as string[]) : undefined,
  };
}

const request = (path: string, header?: string): WeftRequest => ({
  method: 'GET',
  scheme: 'http',
  authority: 'x',
  path,
  headers: header === undefined ? {} : { 'x-h': header },
  body: null,
});

const segment = fc.constantFrom('a', 'b', 'ab', 'api', 'v1', '');
const pathArb = fc.array(segment, { maxLength: 3 }).map((parts) => `/${parts.join('/')}`);
const matchArb: fc.Arbitrary<HTTPMatchRequest> = fc.oneof(
  pathArb.map((p) => ({ uri: { prefix: p } })),
  pathArb.map((p) => ({ uri: { exact: p } })),
  fc.constantFrom('1', '2').map((v) => ({ headers: { 'x-h': { exact: v } } })),
  pathArb.map((p) => ({ uri: { prefix: p }, headers: { 'x-h': { exact: '1' } } })),
);

describe('RouteIndex', () => {
  it('finds the same first route as trying every route in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.array(matchArb, { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 10 }), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.array(fc.tuple(pathArb, fc.option(fc.constantFrom('1', '2'), { nil: undefined })), {
          minLength: 1,
          maxLength: 20,
        }),
        (matchLists, requests) => {
          const routes = matchLists.map((m, i) => route(i, m));
          const scanned: RouteTable = { host: 'x', routes, virtualServices: [], index: undefined };
          const indexed: RouteTable = { ...scanned, index: new RouteIndex(routes) };
          for (const [path, header] of requests) {
            const r = request(`${path}?q=1`, header);
            expect(findRoute(indexed, r, source)?.route.index).toBe(findRoute(scanned, r, source)?.route.index);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
