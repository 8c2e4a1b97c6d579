// Istio's Bookinfo security walkthrough, from its YAML, on the example mesh with mTLS: deny all, then open it hop by hop.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bookinfo, startBookinfo } from '../examples/bookinfo/dist/bookinfo.js';
import type { ProductPage } from '../examples/bookinfo/dist/services/productpage.js';

const samples = fileURLToPath(new URL('./fixtures/istio/security/', import.meta.url));
const yaml = (...names: string[]) => names.map((n) => join(samples, `${n}.yaml`));

let bookinfo: Bookinfo;
beforeAll(async () => {
  bookinfo = await startBookinfo();
});
afterAll(async () => {
  await bookinfo?.close();
});

/** Every service loads the same policy, as they would from one shared config. */
async function apply(files: string[]): Promise<void> {
  await Promise.all(bookinfo.instances.map((i) => i.mesh.policy.update(files)));
}

async function page(): Promise<{ status: number; page?: ProductPage; text: string }> {
  const res = await fetch(bookinfo.productpageUrl);
  const text = await res.text();
  return res.status === 200
    ? { status: 200, page: JSON.parse(text) as ProductPage, text }
    : { status: res.status, text };
}

const hasStars = (p: ProductPage | undefined) =>
  JSON.stringify(p?.reviews).includes('"stars"') || JSON.stringify(p?.reviews).includes('"rating"');

describe("Istio's Bookinfo authorization, step by step", () => {
  it('deny-all (allow-nothing) refuses the product page with 403 RBAC: access denied', async () => {
    await apply(yaml('allow-nothing'));
    const res = await page();
    expect(res.status).toBe(403);
    expect(res.text).toContain('RBAC: access denied');
  });

  it('productpage-viewer opens the page, but details and reviews still refuse productpage', async () => {
    await apply(yaml('allow-nothing', 'productpage-viewer'));
    const res = await page();
    expect(res.status).toBe(200);
    expect(res.page?.details).toEqual({ error: expect.stringContaining('unavailable') });
    expect(res.page?.reviews).toEqual({ error: expect.stringContaining('unavailable') });
  });

  it('details-viewer and reviews-viewer let productpage’s service account in; ratings still refuses reviews', async () => {
    await apply(yaml('allow-nothing', 'productpage-viewer', 'details-viewer', 'reviews-viewer'));
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const res = await page();
      expect(res.status).toBe(200);
      expect(res.page?.details).not.toHaveProperty('error');
      expect(res.page?.reviews).not.toHaveProperty('error');
      seen.add(JSON.stringify(res.page?.reviews));
    }
    // Reviews v2 and v3 answer, but without ratings: their call to ratings is refused.
    expect([...seen].join('\n')).toContain('Ratings service is currently unavailable');
  });

  it('ratings-viewer completes the page: ratings takes calls from reviews’ service account only', async () => {
    await apply(yaml('allow-nothing', 'productpage-viewer', 'details-viewer', 'reviews-viewer', 'ratings-viewer'));
    const pages = [];
    for (let i = 0; i < 9; i++) pages.push(await page());
    expect(pages.every((p) => p.status === 200)).toBe(true);
    expect(pages.map((p) => JSON.stringify(p.page?.reviews)).join('\n')).not.toContain('unavailable');
    expect(pages.some((p) => hasStars(p.page))).toBe(true);
    // The identities came from mTLS: ratings denied nothing now, and counted the earlier refusals of reviews.
    const ratings = bookinfo.instance('ratings').mesh.stats().security;
    expect(ratings.tlsRefused).toEqual({});
    expect(Object.values(ratings.denied).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('the same page is denied again with deny-all (a DENY rule for everything wins over every ALLOW)', async () => {
    await apply(yaml('productpage-viewer', 'deny-all'));
    expect((await page()).status).toBe(403);
  });
});
