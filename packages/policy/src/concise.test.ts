import { describe, expect, it } from 'vitest';
import { codeDocument } from './source/parse.js';
import { checkDocument } from './validate.js';

const check = (value: unknown) => checkDocument(codeDocument(value, 'policy[0]'), 'default');

describe("weft's concise form", () => {
  it('compiles to the DestinationRule and VirtualService it stands for', () => {
    const { resources, problems } = check({
      service: 'reviews',
      subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } },
      split: { v1: 90, v2: 10 },
      timeout: '2s',
      retries: { attempts: 3, perTryTimeout: '500ms', retryOn: '5xx,reset' },
      loadBalancer: 'LEAST_REQUEST',
      circuitBreaker: { maxConnections: 100, maxPendingRequests: 10, maxRequests: 200, connectTimeout: '1s' },
      outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' },
    });
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(resources.map((r) => r.key)).toEqual(['DestinationRule/default/reviews', 'VirtualService/default/reviews']);
    expect(resources[0]?.spec).toEqual({
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'LEAST_REQUEST' },
        connectionPool: {
          tcp: { maxConnections: 100, connectTimeout: '1s' },
          http: { http1MaxPendingRequests: 10, http2MaxRequests: 200 },
        },
        outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    });
    expect(resources[1]?.spec).toEqual({
      hosts: ['reviews'],
      http: [
        {
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 90 },
            { destination: { host: 'reviews', subset: 'v2' }, weight: 10 },
          ],
          timeout: '2s',
          retries: { attempts: 3, perTryTimeout: '500ms', retryOn: '5xx,reset' },
        },
      ],
    });
  });

  it('reports mistakes at the concise fields, with suggestions', () => {
    const { problems } = check({
      service: 'reviews',
      timout: '2s',
      split: { v1: -1 },
      retries: { attempts: 2, perTryTimeout: 'soon' },
    });
    expect(problems.map((p) => [p.code, p.path])).toEqual(
      expect.arrayContaining([
        ['WEFT_ERR_POLICY_FIELD_UNKNOWN', 'timout'],
        ['WEFT_ERR_ROUTE_WEIGHT', 'split.v1'],
        ['WEFT_ERR_POLICY_DURATION', 'retries.perTryTimeout'],
      ]),
    );
    expect(problems.find((p) => p.path === 'timout')?.message).toContain('did you mean "timeout"?');
    expect(problems[0]?.resource).toBe('weft service reviews');
  });

  it('flags a split that does not add up to 100, at the split', () => {
    const { problems } = check({ service: 'reviews', split: { v1: 90, v2: 20 } });
    expect(problems).toContainEqual(
      expect.objectContaining({ code: 'WEFT_WARN_ROUTE_WEIGHT_SUM', path: 'split', severity: 'warning' }),
    );
  });

  it('points warnings about fields weft does not act on yet at the concise field', () => {
    // (Every circuitBreaker field is acted on now; connectionPool's tcpKeepalive is not yet. Both compile
    // to trafficPolicy.connectionPool, which the concise form reports as circuitBreaker.)
    const { problems } = check({ service: 'reviews', connectionPool: { tcp: { tcpKeepalive: { probes: 3 } } } });
    const warning = problems.find((p) => p.code === 'WEFT_WARN_POLICY_UNIMPLEMENTED');
    expect(warning?.path).toBe('circuitBreaker');
  });
});
