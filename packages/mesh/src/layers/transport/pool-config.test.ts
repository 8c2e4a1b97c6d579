// Tests of how a destination's connectionPool becomes the options of its undici pools.
import { describe, expect, it } from 'vitest';
import { poolConfig } from './pool-config.js';

const mesh = {
  maxConnectionsPerEndpoint: 128,
  idleTimeoutMs: 4_000,
  connectTimeoutMs: 10_000,
  noDeadlineHeadersTimeoutMs: 300_000,
  peer: 'productpage.default',
};

describe('poolConfig', () => {
  it("takes the mesh's transport options when the destination sets nothing", () => {
    expect(poolConfig(mesh, undefined)).toEqual({
      connections: 128,
      keepAliveTimeoutMs: 4_000,
      keepAliveMaxTimeoutMs: 600_000,
      connectTimeoutMs: 10_000,
      maxRequestsPerClient: undefined,
      closeEachConnection: false,
      maxConnectionAgeMs: undefined,
    });
  });

  it('applies maxConnections (at most the mesh cap), connectTimeout and idleTimeout', () => {
    expect(
      poolConfig(mesh, { tcp: { maxConnections: 8, connectTimeout: '250ms' }, http: { idleTimeout: '1.5s' } }),
    ).toMatchObject({ connections: 8, connectTimeoutMs: 250, keepAliveTimeoutMs: 1_500, keepAliveMaxTimeoutMs: 1_500 });
    expect(poolConfig(mesh, { tcp: { maxConnections: 1_000 } }).connections).toBe(128);
    expect(poolConfig(mesh, { tcp: { maxConnectionDuration: '1m' } }).maxConnectionAgeMs).toBe(60_000);
  });

  it("reads 0 as Istio does: the default for a limit, no idle timeout (kept up to Istio's 1 h)", () => {
    expect(poolConfig(mesh, { tcp: { maxConnections: 0 }, http: { idleTimeout: '0s' } })).toMatchObject({
      connections: 128,
      keepAliveTimeoutMs: 3_600_000,
      keepAliveMaxTimeoutMs: 3_600_000,
    });
  });

  it('turns maxRequestsPerConnection into undici terms: N − 1 more after the first, or a close on every request for 1', () => {
    expect(poolConfig(mesh, { http: { maxRequestsPerConnection: 5 } })).toMatchObject({
      maxRequestsPerClient: 4,
      closeEachConnection: false,
    });
    expect(poolConfig(mesh, { http: { maxRequestsPerConnection: 1 } })).toMatchObject({
      maxRequestsPerClient: undefined,
      closeEachConnection: true,
    });
    expect(poolConfig(mesh, { http: { maxRequestsPerConnection: 0 } }).maxRequestsPerClient).toBeUndefined();
  });
});
