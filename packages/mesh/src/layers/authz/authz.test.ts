// Authorization apart from the network: path normalisation against known bypass shapes, matchers, and Istio's evaluation order.
import { ipBlockProblem, PolicySnapshot } from '@weft/policy';
import { describe, expect, it } from 'vitest';
import type { RequestAttributes } from './attributes.js';
import { decide, workloadPolicies } from './decide.js';
import { ipMatcher, pathMatcher, stringMatcher } from './match.js';
import { normalizePath } from './normalize.js';

const path = (raw: string, mode: Parameters<typeof normalizePath>[1] = 'MERGE_SLASHES') => {
  const n = normalizePath(raw, mode);
  return 'path' in n ? n.path : `REJECTED: ${n.rejected}`;
};

describe('path normalisation', () => {
  it.each([
    ['/public/../admin', '/admin'],
    ['/public/./../admin/', '/admin/'],
    ['/../../admin', '/admin'],
    ['//admin', '/admin'],
    ['/public//..//admin', '/admin'],
    ['/%2e%2e/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['/%61dmin', '/admin'],
    ['\\admin', '/admin'],
    ['/public\\..\\admin', '/admin'],
    ['/admin?x=/public', '/admin'],
    ['/admin#frag', '/admin'],
    ['/admin%2fsecret', '/admin%2Fsecret'],
    ['/%252e%252e/admin', '/%252e%252e/admin'],
    ['/a/b/..', '/a/'],
  ])('turns %s into %s (MERGE_SLASHES, weft’s default)', (raw, expected) => {
    expect(path(raw)).toBe(expected);
  });

  it('decodes encoded slashes only under DECODE_AND_MERGE_SLASHES, and merges slashes only when asked', () => {
    expect(path('/admin%2Fsecret', 'DECODE_AND_MERGE_SLASHES')).toBe('/admin/secret');
    expect(path('/public%2F..%2Fadmin', 'DECODE_AND_MERGE_SLASHES')).toBe('/admin');
    expect(path('/admin%5Csecret', 'DECODE_AND_MERGE_SLASHES')).toBe('/admin/secret');
    expect(path('//admin', 'BASE')).toBe('//admin');
    expect(path('/a/../b', 'NONE')).toBe('/a/../b');
  });

  it('refuses encoded slashes when told to (Envoy’s REJECT_REQUEST), unless the mode decodes them', () => {
    expect(normalizePath('/admin%2Fsecret', 'MERGE_SLASHES', 'REJECT_REQUEST')).toEqual({
      rejected: expect.stringContaining('%2F'),
    });
    expect(normalizePath('/a%5cb', 'BASE', 'REJECT_REQUEST')).toHaveProperty('rejected');
    expect(normalizePath('/admin%2Fsecret', 'DECODE_AND_MERGE_SLASHES', 'REJECT_REQUEST')).toEqual({
      path: '/admin/secret',
    });
  });

  it('refuses a NUL in any mode', () => {
    expect(path('/admin%00.html')).toMatch(/^REJECTED: .*NUL/);
    expect(path('/admin%00', 'NONE')).toMatch(/^REJECTED/);
  });
});

describe('matchers', () => {
  it('reads Istio’s string forms', () => {
    expect(stringMatcher('*')('x')).toBe(true);
    expect(stringMatcher('*')('')).toBe(false);
    expect(stringMatcher('*')(undefined)).toBe(false);
    expect(stringMatcher('/api/*')('/api/v1')).toBe(true);
    expect(stringMatcher('*.local')('a.local')).toBe(true);
    expect(stringMatcher('GET')('get')).toBe(false);
    expect(stringMatcher('Example.COM', true)('example.com')).toBe(true);
  });

  it('matches path templates segment by segment', () => {
    expect(pathMatcher('/books/{*}/reviews')('/books/1/reviews')).toBe(true);
    expect(pathMatcher('/books/{*}/reviews')('/books/1/2/reviews')).toBe(false);
    expect(pathMatcher('/books/{**}')('/books/1/2')).toBe(true);
    expect(pathMatcher('/books/{**}')('/books/')).toBe(false);
  });

  it('matches IPv4 and IPv6 blocks, and IPv4 clients on a dual-stack socket', () => {
    const m = ipMatcher(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    expect(m('10.1.2.3')).toBe(true);
    expect(m('::ffff:127.0.0.1')).toBe(true);
    expect(m('fd12::1')).toBe(true);
    expect(m('11.0.0.1')).toBe(false);
    expect(ipBlockProblem('10.0.0.0/33')).toContain('prefix length');
    expect(ipBlockProblem('10.0.0')).toContain('not an IPv4');
  });
});

const attrs = (over: Partial<RequestAttributes> = {}): RequestAttributes => ({
  method: 'GET',
  path: '/',
  host: 'reviews',
  port: 9080,
  headers: {},
  sourceIp: '127.0.0.1',
  remoteIp: '127.0.0.1',
  destinationIp: '127.0.0.1',
  sni: undefined,
  principal: undefined,
  namespace: undefined,
  serviceAccount: undefined,
  requestPrincipal: undefined,
  claims: undefined,
  ...over,
});

function snapshot(...specs: { name: string; namespace?: string; spec: unknown }[]): PolicySnapshot {
  return new PolicySnapshot(
    1,
    ['test'],
    specs.map((s) => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      name: s.name,
      namespace: s.namespace ?? 'default',
      labels: {},
      annotations: {},
      spec: s.spec,
      origin: 'test',
      key: `AuthorizationPolicy/${s.namespace ?? 'default'}/${s.name}`,
      locate: () => 'test',
    })),
    [],
    { namespace: 'default', clusterDomain: 'cluster.local' },
  );
}

const reviews = { namespace: 'default', labels: { app: 'reviews' }, rootNamespace: 'istio-system' };

describe('evaluation order', () => {
  it('allows everything with no policy, and nothing with an empty ALLOW (deny-all)', () => {
    expect(decide(workloadPolicies(snapshot(), reviews), attrs()).allowed).toBe(true);
    const denyAll = workloadPolicies(snapshot({ name: 'deny-all', spec: {} }), reviews);
    expect(decide(denyAll, attrs())).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('no ALLOW policy matched'),
    });
  });

  it('lets DENY win over ALLOW, and applies selectors and the root namespace', () => {
    const policies = workloadPolicies(
      snapshot(
        {
          name: 'allow-pp',
          spec: { rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/productpage'] } }] }] },
        },
        { name: 'no-delete', spec: { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] } },
        { name: 'other-app', spec: { selector: { matchLabels: { app: 'ratings' } }, action: 'DENY', rules: [{}] } },
        {
          name: 'mesh-deny',
          namespace: 'istio-system',
          spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/debug/*'] } }] }] },
        },
        { name: 'elsewhere', namespace: 'other', spec: { action: 'DENY', rules: [{}] } },
      ),
      reviews,
    );
    const pp = { principal: 'cluster.local/ns/default/sa/productpage', namespace: 'default' };
    expect(decide(policies, attrs(pp))).toMatchObject({ allowed: true, policy: 'default/allow-pp' });
    expect(decide(policies, attrs({ ...pp, method: 'DELETE' }))).toMatchObject({
      allowed: false,
      policy: 'default/no-delete',
    });
    expect(decide(policies, attrs({ ...pp, path: '/debug/vars' }))).toMatchObject({
      allowed: false,
      policy: 'istio-system/mesh-deny',
    });
    expect(decide(policies, attrs({ principal: 'cluster.local/ns/default/sa/ratings' })).allowed).toBe(false);
    expect(decide(policies, attrs()).allowed).toBe(false);
  });

  it('ANDs fields, ORs list entries, honours not* and when conditions on headers and JWT claims', () => {
    const policies = workloadPolicies(
      snapshot({
        name: 'p',
        spec: {
          rules: [
            {
              to: [{ operation: { methods: ['GET', 'HEAD'], notPaths: ['/admin*'] } }],
              when: [
                { key: 'request.headers[X-Tenant]', values: ['acme', 'globex'] },
                { key: 'request.auth.claims[groups]', values: ['readers'] },
                { key: 'source.ip', notValues: ['10.0.0.0/8'] },
              ],
            },
          ],
        },
      }),
      reviews,
    );
    const ok = attrs({ headers: { 'x-tenant': 'acme' }, claims: { groups: ['writers', 'readers'] } });
    expect(decide(policies, ok).allowed).toBe(true);
    expect(decide(policies, { ...ok, method: 'POST' }).allowed).toBe(false);
    expect(decide(policies, { ...ok, path: '/admin/users' }).allowed).toBe(false);
    expect(decide(policies, { ...ok, headers: { 'x-tenant': 'initech' } }).allowed).toBe(false);
    expect(decide(policies, { ...ok, claims: { groups: ['writers'] } }).allowed).toBe(false);
    expect(decide(policies, { ...ok, sourceIp: '10.1.1.1' }).allowed).toBe(false);
  });

  it('denies what a CUSTOM policy matches (no external authorizer to ask), and marks AUDIT matches', () => {
    const policies = workloadPolicies(
      snapshot(
        {
          name: 'ext',
          spec: {
            action: 'CUSTOM',
            provider: { name: 'opa' },
            rules: [{ to: [{ operation: { paths: ['/private/*'] } }] }],
          },
        },
        { name: 'audit-all', spec: { action: 'AUDIT', rules: [{}] } },
      ),
      reviews,
    );
    expect(decide(policies, attrs({ path: '/private/x' }))).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('opa'),
    });
    expect(decide(policies, attrs({ path: '/public' }))).toMatchObject({
      allowed: true,
      audited: ['default/audit-all'],
    });
  });
});
