import { describe, expect, it } from 'vitest';
import { parseSpiffeId, workloadSpiffeId } from './spiffe.js';

describe('SPIFFE IDs', () => {
  it('reads Istio’s workload form', () => {
    expect(parseSpiffeId('spiffe://cluster.local/ns/default/sa/bookinfo-reviews')).toEqual({
      uri: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
      trustDomain: 'cluster.local',
      path: '/ns/default/sa/bookinfo-reviews',
      namespace: 'default',
      serviceAccount: 'bookinfo-reviews',
    });
    expect(workloadSpiffeId('example.org', 'shop', 'cart')).toBe('spiffe://example.org/ns/shop/sa/cart');
  });

  it('takes other paths without a workload reading', () => {
    expect(parseSpiffeId('spiffe://example.org/billing/api')).toMatchObject({
      namespace: undefined,
      path: '/billing/api',
    });
    expect(parseSpiffeId('spiffe://example.org')).toMatchObject({ path: '' });
  });

  it.each([
    ['https://cluster.local/ns/a/sa/b', 'scheme'],
    ['spiffe://Cluster.Local/ns/a/sa/b', 'trust domain'],
    ['spiffe:///ns/a/sa/b', 'trust domain is empty'],
    ['spiffe://td/ns//sa/b', 'empty segment'],
    ['spiffe://td/ns/../sa/b', '".."'],
    ['spiffe://td/ns/a b/sa/b', 'character'],
    ['spiffe://td/', 'ends with'],
  ])('refuses %s, saying why', (uri, reason) => {
    expect(() => parseSpiffeId(uri)).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_SPIFFE_ID', message: expect.stringContaining(reason) }),
    );
  });
});
