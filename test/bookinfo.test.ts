// The Bookinfo example end to end: traffic reaches every reviews version, only v2 and v3 call ratings, and the command line exits cleanly.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServiceStatsView } from '@weft/mesh';
import { describe, expect, it } from 'vitest';
import { type BookinfoInstance, startBookinfo } from '../examples/bookinfo/dist/bookinfo.js';
import { drive } from '../examples/bookinfo/dist/drive.js';
import type { ProductPage } from '../examples/bookinfo/dist/services/productpage.js';

const MAIN = fileURLToPath(new URL('../examples/bookinfo/dist/main.js', import.meta.url));

/** The caller's outbound stats for calls to `service` (stats name services fully qualified). */
function outboundTo(instance: BookinfoInstance, service: string): ServiceStatsView | undefined {
  return instance.mesh.stats().outbound.find((v) => v.service.startsWith(`${service}.`));
}

describe('the Bookinfo example', () => {
  it('spreads productpage’s calls over reviews v1, v2 and v3, and only v2 and v3 call ratings, without errors', async () => {
    const bookinfo = await startBookinfo();
    try {
      const result = await drive(bookinfo.productpageUrl, { requests: 150, concurrency: 8 });
      expect(result.errors).toEqual({});
      expect(result.ok).toBe(150);

      const toReviews = outboundTo(bookinfo.instance('productpage'), 'reviews');
      const byVersion = Object.fromEntries((toReviews?.endpoints ?? []).map((e) => [e.labels.version, e.requests]));
      expect(Object.keys(byVersion).sort()).toEqual(['v1', 'v2', 'v3']);
      for (const version of ['v1', 'v2', 'v3']) {
        expect(byVersion[version], `reviews ${version}`).toBeGreaterThanOrEqual(40);
        expect(byVersion[version], `reviews ${version}`).toBeLessThanOrEqual(60);
      }
      expect(toReviews?.requests).toBe(150);
      expect(outboundTo(bookinfo.instance('productpage'), 'details')?.requests).toBe(150);

      expect(bookinfo.instance('reviews', 'v1').mesh.stats().outbound).toEqual([]);
      const fromV2 = outboundTo(bookinfo.instance('reviews', 'v2'), 'ratings')?.requests;
      const fromV3 = outboundTo(bookinfo.instance('reviews', 'v3'), 'ratings')?.requests;
      expect(fromV2).toBe(byVersion.v2);
      expect(fromV3).toBe(byVersion.v3);
      const ratingsServed = bookinfo.instance('ratings').mesh.stats().inbound;
      expect(ratingsServed.map((v) => v.requests)).toEqual([(fromV2 ?? 0) + (fromV3 ?? 0)]);

      for (const instance of bookinfo.instances) {
        const { outbound, inbound } = instance.mesh.stats();
        for (const view of [...outbound, ...inbound]) {
          const where = `${instance.service} ${instance.version}: ${view.service}`;
          expect(view.errors, where).toEqual({});
          expect(Object.keys(view.statuses), where).toEqual(['200']);
        }
      }
    } finally {
      await bookinfo.close();
    }
  });

  it('shows no stars from reviews v1, black stars from v2 and red stars from v3', async () => {
    const bookinfo = await startBookinfo();
    try {
      const pages: ProductPage[] = [];
      for (let i = 0; i < 3; i++) pages.push((await (await fetch(bookinfo.productpageUrl)).json()) as ProductPage);
      const byPod = new Map(pages.map((p) => ['podname' in p.reviews ? p.reviews.podname : 'error', p]));
      expect([...byPod.keys()].sort()).toEqual(['reviews-v1', 'reviews-v2', 'reviews-v3']);
      const ratingsOf = (pod: string) => {
        const reviews = byPod.get(pod)?.reviews;
        return reviews !== undefined && 'reviews' in reviews ? reviews.reviews.map((r) => r.rating) : undefined;
      };
      expect(ratingsOf('reviews-v1')).toEqual([undefined, undefined]);
      expect(ratingsOf('reviews-v2')).toEqual([
        { stars: 5, color: 'black' },
        { stars: 4, color: 'black' },
      ]);
      expect(ratingsOf('reviews-v3')).toEqual([
        { stars: 5, color: 'red' },
        { stars: 4, color: 'red' },
      ]);
      expect(pages[0]?.details).toMatchObject({ author: 'William Shakespeare', year: 1595 });
    } finally {
      await bookinfo.close();
    }
  });

  it('runs from the command line, names every service in its summary and exits with code 0', () => {
    const run = spawnSync(process.execPath, [MAIN, '--requests', '60'], { encoding: 'utf8', timeout: 30_000 });
    expect(run.error, 'main.js did not exit by itself within 30 s').toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    for (const service of ['productpage', 'details', 'reviews', 'ratings']) expect(run.stdout).toContain(service);
    for (const version of ['v1', 'v2', 'v3']) expect(run.stdout).toMatch(new RegExp(`reviews\\s+${version}`));
    expect(run.stdout).toContain('60 requests');
    expect(run.stdout).toContain('OK:');
  });

  it('refuses a bad option with exit code 2 and its usage', () => {
    const run = spawnSync(process.execPath, [MAIN, '--requests', 'lots'], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--requests takes a whole number');
    expect(run.stderr).toContain('usage:');
  });
});
