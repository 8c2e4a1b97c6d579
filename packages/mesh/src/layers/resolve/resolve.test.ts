import { CallContext, type Handler, isWeftError, type WeftRequest } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { ServiceRegistry } from '../../discovery/registry.js';
import { passthroughEndpoint, resolve } from './index.js';

const call = (authority: string): WeftRequest => ({
  method: 'GET',
  scheme: 'http',
  authority,
  path: '/',
  headers: {},
  body: null,
});
const seen: Handler = async (_req, ctx) => ({
  status: 200,
  headers: {},
  body: `${ctx.service}|${ctx.endpoint?.address}`,
});

function registry(): ServiceRegistry {
  const r = new ServiceRegistry({ namespace: 'default', clusterDomain: 'cluster.local' });
  r.setEndpoints('reviews', [
    { address: '127.0.0.1:1', host: '127.0.0.1', port: 1, labels: {}, locality: '', weight: 1 },
  ]);
  r.setEndpoints('ratings.prod', []);
  return r;
}

describe('resolve', () => {
  it('finds a service under every name Kubernetes DNS gives it from this namespace, with or without a port', async () => {
    const handler = resolve({ registry: registry(), outboundTrafficPolicy: 'ALLOW_ANY' }).wrap(seen);
    for (const host of [
      'reviews',
      'reviews:9080',
      'reviews.default',
      'reviews.default.svc',
      'reviews.default.svc.cluster.local:80',
      'REVIEWS',
    ]) {
      const res = await handler(call(host), new CallContext());
      expect(res.body, host).toBe('reviews.default.svc.cluster.local|undefined');
    }
  });

  it('does not take a service of another namespace by its short name', async () => {
    const handler = resolve({ registry: registry(), outboundTrafficPolicy: 'REGISTRY_ONLY' }).wrap(seen);
    expect((await handler(call('ratings.prod'), new CallContext())).body).toBe(
      'ratings.prod.svc.cluster.local|undefined',
    );
    const error = await handler(call('ratings'), new CallContext()).catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_REGISTRY_ONLY')).toBe(true);
  });

  it('sends an unknown host on as it is under ALLOW_ANY', async () => {
    const handler = resolve({ registry: registry(), outboundTrafficPolicy: 'ALLOW_ANY' }).wrap(seen);
    expect((await handler(call('example.test:8080'), new CallContext())).body).toBe('undefined|example.test:8080');
  });

  it('refuses an unknown host under REGISTRY_ONLY, naming it', async () => {
    const handler = resolve({ registry: registry(), outboundTrafficPolicy: 'REGISTRY_ONLY' }).wrap(seen);
    const error = await handler(call('example.test'), new CallContext()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_REGISTRY_ONLY', status: 502 });
    expect((error as Error).message).toContain('"example.test"');
  });
});

describe('passthroughEndpoint', () => {
  it("uses the scheme's port when the authority has none", () => {
    expect(passthroughEndpoint('example.test', 'https').address).toBe('example.test:443');
    expect(passthroughEndpoint('example.test', 'http').port).toBe(80);
    expect(passthroughEndpoint('[::1]:8080', 'http')).toMatchObject({ host: '::1', port: 8080, address: '[::1]:8080' });
  });
});
