// Policy swaps under load: calls keep flowing while the policy files change many times, valid and invalid.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

const rule = (n: number, valid: boolean) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  ${valid ? 'subsets' : 'subsetz'}:
  - name: v${n}
    labels:
      version: v${n}
`;

describe('reloading policy under load', () => {
  it('fails no call while the policy changes 40 times, a third of them invalid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-reload-'));
    try {
      const file = join(dir, 'reviews.yaml');
      await writeFile(file, rule(0, true));
      const a = await upstream('a');
      const m = await mesh({
        service: 'productpage',
        discovery: { static: { reviews: [a.address] } },
        policy: file,
      });
      const statuses = new Map<string, number>();
      let stop = false;
      const deadline = Date.now() + 15_000;
      const caller = async () => {
        for (let i = 0; i < 5_000 && !stop && Date.now() < deadline; i++) {
          const key = await m
            .fetch('http://reviews/r')
            .then(async (r) => {
              await r.arrayBuffer();
              return String(r.status);
            })
            .catch((e: { code?: string }) => e.code ?? 'untyped');
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      };
      const callers = Promise.all([caller(), caller(), caller(), caller()]);
      let rejected = 0;
      m.policy.onError(() => rejected++);
      for (let n = 1; n <= 40; n++) {
        await writeFile(file, rule(n, n % 3 !== 0));
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
      await expect.poll(() => m.policy.current().version + rejected, { timeout: 5_000 }).toBeGreaterThan(20);
      stop = true;
      await callers;
      expect([...statuses.keys()]).toEqual(['200']);
      expect(statuses.get('200')).toBeGreaterThan(100);
      expect(rejected).toBeGreaterThan(0);
      expect(m.policy.current().version).toBeGreaterThan(5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
