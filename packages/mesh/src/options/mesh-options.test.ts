import { isWeftError, type WeftError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, resolveMeshOptions } from './mesh-options.js';

function problemsOf(input: unknown) {
  try {
    resolveMeshOptions(input);
  } catch (error) {
    expect(isWeftError(error, 'WEFT_ERR_CONFIG_INVALID')).toBe(true);
    return (error as WeftError).problems;
  }
  throw new Error('expected the options to be refused');
}

describe('createMesh options', () => {
  it('fills in every default', () => {
    const o = resolveMeshOptions({ service: 'productpage' });
    expect(o).toMatchObject({
      service: 'productpage',
      namespace: 'default',
      outboundTrafficPolicy: 'ALLOW_ANY',
      timeoutMs: 0,
      maxConnectionsPerEndpoint: DEFAULTS.maxConnectionsPerEndpoint,
      labels: { app: 'productpage' },
    });
  });

  it('reads endpoints as strings or objects with labels, locality and weight', () => {
    const o = resolveMeshOptions({
      service: 'productpage',
      version: 'v1',
      discovery: {
        static: {
          reviews: [
            '127.0.0.1:9081',
            { address: '[::1]:9082', labels: { version: 'v2' }, locality: 'eu/a', weight: 3 },
          ],
        },
      },
    });
    expect(o.labels).toEqual({ app: 'productpage', version: 'v1' });
    expect(o.staticEndpoints.get('reviews')).toEqual([
      {
        host: '127.0.0.1',
        port: 9081,
        address: '127.0.0.1:9081',
        labels: {},
        locality: '',
        weight: 1,
        health: 'HEALTHY',
      },
      {
        host: '::1',
        port: 9082,
        address: '[::1]:9082',
        labels: { version: 'v2' },
        locality: 'eu/a',
        weight: 3,
        health: 'HEALTHY',
      },
    ]);
  });

  it('requires a service name', () => {
    expect(problemsOf({})).toEqual([expect.objectContaining({ code: 'WEFT_ERR_OPTION_REQUIRED', path: 'service' })]);
    expect(problemsOf(undefined)[0]?.code).toBe('WEFT_ERR_OPTION_REQUIRED');
  });

  it('refuses a service name that is not a DNS label, saying what would be valid', () => {
    for (const bad of ['Product_Page', '-a', 'a'.repeat(64), '']) {
      const [p] = problemsOf({ service: bad });
      expect(p).toMatchObject({ code: 'WEFT_ERR_SERVICE_NAME', path: 'service' });
      expect(p?.expected).toContain('DNS label');
    }
  });

  it('names a malformed address, where it is and why', () => {
    const problems = problemsOf({
      service: 'a',
      discovery: { static: { reviews: ['127.0.0.1', { address: 'x:0' }, 'host:99999', '::1:80', 42] } },
    });
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      ['WEFT_ERR_ADDRESS', 'discovery.static.reviews[0]'],
      ['WEFT_ERR_ADDRESS', 'discovery.static.reviews[1].address'],
      ['WEFT_ERR_ADDRESS', 'discovery.static.reviews[2]'],
      ['WEFT_ERR_ADDRESS', 'discovery.static.reviews[3]'],
      ['WEFT_ERR_OPTION_TYPE', 'discovery.static.reviews[4]'],
    ]);
    expect(problems[0]?.message).toBe('the port is missing');
    expect(problems[0]?.expected).toContain('host:port');
  });

  it('suggests the option meant by a misspelled one', () => {
    const [p] = problemsOf({ service: 'a', timeotMs: 5 });
    expect(p).toMatchObject({ code: 'WEFT_ERR_OPTION_UNKNOWN', path: 'timeotMs' });
    expect(p?.message).toContain('did you mean "timeoutMs"');
    const [q] = problemsOf({ service: 'a', discovery: { static: { r: [{ address: '1.2.3.4:80', lables: {} }] } } });
    expect(q?.message).toContain('did you mean "labels"');
    const [r] = problemsOf({ service: 'a', outboundTrafficPolicy: 'REGISTRY_ONY' });
    expect(r).toMatchObject({ code: 'WEFT_ERR_OPTION_VALUE', path: 'outboundTrafficPolicy' });
    expect(r?.message).toContain('did you mean "REGISTRY_ONLY"');
  });

  it('reports every mistake of one call together', () => {
    const problems = problemsOf({ service: 'A', timeoutMs: -1, discovery: { static: { 'Bad Host': [] } }, extra: 1 });
    expect(problems.map((p) => p.code).sort()).toEqual([
      'WEFT_ERR_OPTION_UNKNOWN',
      'WEFT_ERR_OPTION_VALUE',
      'WEFT_ERR_SERVICE_NAME',
    ]);
  });

  it('checks service host keys of static discovery', () => {
    const [p] = problemsOf({ service: 'a', discovery: { static: { 'reviews.other.svc.elsewhere': [] } } });
    expect(p).toMatchObject({ code: 'WEFT_ERR_SERVICE_NAME', path: 'discovery.static.reviews.other.svc.elsewhere' });
    expect(() =>
      resolveMeshOptions({ service: 'a', discovery: { static: { 'reviews.other.svc.cluster.local': [] } } }),
    ).not.toThrow();
  });
});
