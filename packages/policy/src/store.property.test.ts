// Property: whatever is fed to the loader, it answers with weft's config error or a whole new snapshot, never half of one.
import { isWeftError } from '@weft/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseText } from './source/parse.js';
import { PolicyStore } from './store.js';
import { checkDocument } from './validate.js';

const valid = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews' },
  spec: {
    hosts: ['reviews'],
    http: [
      {
        match: [{ headers: { 'end-user': { exact: 'jason' } } }],
        route: [{ destination: { host: 'reviews', subset: 'v2' } }],
      },
      {
        route: [
          { destination: { host: 'reviews', subset: 'v1' }, weight: 90 },
          { destination: { host: 'reviews', subset: 'v3' }, weight: 10 },
        ],
      },
    ],
  },
};

/** Replaces the value at a random path of a JSON-like value with another random value. */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  if (entries.length === 0) return replacement;
  const [head = 0, ...rest] = path;
  const [key, child] = entries[head % entries.length] as readonly [PropertyKey, unknown];
  const copy = (Array.isArray(value) ? [...value] : { ...value }) as Record<PropertyKey, unknown>;
  copy[key] = mutate(child, rest, replacement);
  return copy;
}

const anyValue = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.constantFrom('1.5s', '-1s', '(?=x)', '*', 'v1', 'ROUND_ROBIN', -1, 101, 0.5, '', null),
);

describe('the policy store under random input', () => {
  it('rejects with WEFT_ERR_CONFIG_INVALID or accepts a whole snapshot, for mutated resources', async () => {
    const store = new PolicyStore({
      namespace: 'default',
      clusterDomain: 'cluster.local',
      watch: false,
      logRejections: false,
    });
    const good = await store.update(valid);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 8 }), anyValue, async (path, replacement) => {
        const before = store.current();
        const input = mutate(valid, path, replacement) as Record<string, unknown>;
        try {
          const after = await store.update(input);
          expect(after.version).toBe(before.version + 1);
          expect(store.current()).toBe(after);
          expect(after.resources.length).toBeLessThanOrEqual(1);
        } catch (error) {
          expect(isWeftError(error, 'WEFT_ERR_CONFIG_INVALID')).toBe(true);
          expect(store.current()).toBe(before);
        }
      }),
      { numRuns: 300 },
    );
    expect(good.version).toBe(1);
  });

  it('never throws while parsing and checking arbitrary or truncated text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.constant(stringify(valid)).chain((t) => fc.nat(t.length).map((n) => t.slice(0, n))),
        ),
        (text) => {
          const { documents, errors } = parseText(text, 'random.yaml');
          expect(Array.isArray(documents) && Array.isArray(errors)).toBe(true);
          for (const doc of documents) {
            const checked = checkDocument(doc, 'default');
            for (const p of checked.problems) expect(p.code).toMatch(/^WEFT_(ERR|WARN)_/);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
