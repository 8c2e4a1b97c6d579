// The kinds' schemas against Istio's own Bookinfo and security samples, and the codes their mistakes get.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { codeDocument } from '../source/parse.js';
import { checkDocument } from '../validate.js';
import { AuthorizationPolicy } from './authorization-policy.js';
import { DestinationRule } from './destination-rule.js';
import { findKind, KINDS } from './kinds.js';
import type { KindSchema } from './kit.js';
import { PeerAuthentication } from './peer-authentication.js';
import { RequestAuthentication } from './request-authentication.js';
import { ServiceEntry } from './service-entry.js';
import { VirtualService } from './virtual-service.js';

const FIXTURES = new URL('../../../../test/fixtures/istio/', import.meta.url);

interface Resource {
  file: string;
  apiVersion: string;
  kind: string;
  spec: unknown;
}

function resourcesIn(relative: string): Resource[] {
  const file = new URL(relative, FIXTURES);
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    const js = doc.toJS() as { apiVersion: string; kind: string; spec?: unknown };
    return { file: relative, apiVersion: js.apiVersion, kind: js.kind, spec: js.spec ?? {} };
  });
}

const FILES = [
  ...readdirSync(new URL('bookinfo/', FIXTURES)).map((f) => `bookinfo/${f}`),
  ...readdirSync(new URL('security/', FIXTURES)).map((f) => `security/${f}`),
  'service-entry.yaml',
].filter((f) => f.endsWith('.yaml'));

function issuesOf(kind: KindSchema, spec: unknown): z.core.$ZodIssue[] {
  const result = kind.spec.safeParse(spec);
  return result.success ? [] : result.error.issues;
}

/** The weft codes the refinements attached to the issues of a failed parse. */
function weftCodes(kind: KindSchema, spec: unknown): string[] {
  return issuesOf(kind, spec).flatMap((issue) => {
    const weft = (issue as { params?: { weft?: string } }).params?.weft;
    return weft === undefined ? [] : [weft];
  });
}

function route(extra: Record<string, unknown> = {}) {
  return { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }], ...extra }] };
}

describe('Istio samples', () => {
  it('has fixtures for Bookinfo, the security tasks and a ServiceEntry', () => {
    expect(FILES.length).toBeGreaterThanOrEqual(17);
  });

  it.each(FILES)('%s passes its kind’s schema', (file) => {
    const resources = resourcesIn(file);
    expect(resources.length).toBeGreaterThan(0);
    for (const resource of resources) {
      const kind = findKind(resource.apiVersion, resource.kind);
      expect(kind, `${resource.apiVersion} ${resource.kind}`).toBeDefined();
      expect(issuesOf(kind as KindSchema, resource.spec)).toEqual([]);
    }
  });

  it('multi-document files yield one resource per document', () => {
    expect(resourcesIn('bookinfo/virtual-service-all-v1.yaml').map((r) => r.kind)).toEqual([
      'VirtualService',
      'VirtualService',
      'VirtualService',
      'VirtualService',
    ]);
    expect(resourcesIn('bookinfo/destination-rule-all.yaml')).toHaveLength(4);
  });
});

describe('mistakes get precise issues', () => {
  it('a misspelled field is an unrecognized key at its place', () => {
    const issues = issuesOf(VirtualService, {
      hosts: ['reviews'],
      http: [{ rout: [{ destination: { host: 'reviews' } }] }],
    });
    const unknown = issues.find((i) => i.code === 'unrecognized_keys');
    expect(unknown).toMatchObject({ code: 'unrecognized_keys', keys: ['rout'], path: ['http', 0] });
  });

  it('an unknown field deep in a DestinationRule is refused too', () => {
    const issues = issuesOf(DestinationRule, {
      host: 'reviews',
      trafficPolicy: { connectionPool: { http: { maxRequestPerConnection: 10 } } },
    });
    expect(issues[0]).toMatchObject({
      code: 'unrecognized_keys',
      keys: ['maxRequestPerConnection'],
      path: ['trafficPolicy', 'connectionPool', 'http'],
    });
  });

  it('a bad duration is WEFT_ERR_POLICY_DURATION', () => {
    expect(weftCodes(VirtualService, route({ timeout: '2 seconds' }))).toEqual(['WEFT_ERR_POLICY_DURATION']);
    expect(weftCodes(VirtualService, route({ retries: { attempts: 3, perTryTimeout: '0s' } }))).toEqual([
      'WEFT_ERR_POLICY_DURATION',
    ]);
    expect(
      weftCodes(DestinationRule, { host: 'reviews', trafficPolicy: { outlierDetection: { interval: '5 min' } } }),
    ).toEqual(['WEFT_ERR_POLICY_DURATION']);
  });

  it('accepts Go-style durations such as 1h30m and 1.5s', () => {
    expect(
      issuesOf(VirtualService, route({ timeout: '1h30m', retries: { attempts: 2, perTryTimeout: '1.5s' } })),
    ).toEqual([]);
  });

  it('a lookahead regex is WEFT_ERR_POLICY_REGEX (RE2 has no lookaround)', () => {
    const spec = {
      hosts: ['reviews'],
      http: [{ match: [{ uri: { regex: '^/api(?=/v1)' } }], route: [{ destination: { host: 'reviews' } }] }],
    };
    expect(weftCodes(VirtualService, spec)).toEqual(['WEFT_ERR_POLICY_REGEX']);
  });

  it('a negative or fractional weight is WEFT_ERR_ROUTE_WEIGHT', () => {
    const weighted = (weight: number) => ({
      hosts: ['reviews'],
      http: [
        {
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight },
            { destination: { host: 'reviews', subset: 'v2' }, weight: 50 },
          ],
        },
      ],
    });
    expect(weftCodes(VirtualService, weighted(-10))).toEqual(['WEFT_ERR_ROUTE_WEIGHT']);
    expect(weftCodes(VirtualService, weighted(12.5))).toEqual(['WEFT_ERR_ROUTE_WEIGHT']);
    expect(issuesOf(VirtualService, weighted(0))).toEqual([]);
  });

  it('a weight of a TCP route is checked the same way', () => {
    const spec = { hosts: ['mongo'], tcp: [{ route: [{ destination: { host: 'mongo' }, weight: -1 }] }] };
    expect(weftCodes(VirtualService, spec)).toEqual(['WEFT_ERR_ROUTE_WEIGHT']);
  });

  it('a bad retryOn item is WEFT_ERR_POLICY_VALUE and suggests the condition meant', () => {
    const issues = issuesOf(VirtualService, route({ retries: { attempts: 3, retryOn: '5xx,conect-failure,503' } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      params: { weft: 'WEFT_ERR_POLICY_VALUE' },
      path: ['http', 0, 'retries', 'retryOn'],
    });
    expect(issues[0]?.message).toContain('did you mean "connect-failure"');
  });

  it('retryOn accepts Envoy and gRPC conditions and bare status codes', () => {
    const retryOn = 'gateway-error,connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes,503';
    expect(issuesOf(VirtualService, route({ retries: { attempts: 2, retryOn } }))).toEqual([]);
  });

  it('retryOn items with spaces are refused as Istio refuses them, with a hint', () => {
    const issues = issuesOf(VirtualService, route({ retries: { attempts: 2, retryOn: '5xx, reset' } }));
    expect(issues[0]?.message).toContain('remove the spaces');
  });

  it('two of a oneof is WEFT_ERR_POLICY_ONEOF', () => {
    const twoMatches = {
      hosts: ['reviews'],
      http: [{ match: [{ uri: { exact: '/a', prefix: '/b' } }], route: [{ destination: { host: 'reviews' } }] }],
    };
    expect(weftCodes(VirtualService, twoMatches)).toEqual(['WEFT_ERR_POLICY_ONEOF']);
    const twoBalancers = {
      host: 'reviews',
      trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN', consistentHash: { useSourceIp: true } } },
    };
    expect(weftCodes(DestinationRule, twoBalancers)).toEqual(['WEFT_ERR_POLICY_ONEOF']);
    const routeAndRedirect = route({ redirect: { uri: '/elsewhere' } });
    expect(weftCodes(VirtualService, routeAndRedirect)).toEqual(['WEFT_ERR_POLICY_ONEOF']);
  });

  it('an HTTP rule that neither forwards, redirects, answers nor delegates is WEFT_ERR_POLICY_ONEOF', () => {
    expect(weftCodes(VirtualService, { hosts: ['reviews'], http: [{ timeout: '1s' }] })).toEqual([
      'WEFT_ERR_POLICY_ONEOF',
    ]);
  });

  it('a fault with neither delay nor abort is WEFT_ERR_POLICY_ONEOF', () => {
    expect(weftCodes(VirtualService, route({ fault: {} }))).toEqual(['WEFT_ERR_POLICY_ONEOF']);
  });

  it('a bad label key is WEFT_ERR_POLICY_SELECTOR', () => {
    const spec = { host: 'reviews', subsets: [{ name: 'v1', labels: { '-version': 'v1' } }] };
    expect(weftCodes(DestinationRule, spec)).toEqual(['WEFT_ERR_POLICY_SELECTOR']);
    const selector = { selector: { matchLabels: { 'app/name/x': 'ratings' } } };
    expect(weftCodes(AuthorizationPolicy, selector)).toEqual(['WEFT_ERR_POLICY_SELECTOR']);
  });

  it('a percentage above 100 is WEFT_ERR_POLICY_PERCENT', () => {
    const spec = route({ fault: { delay: { fixedDelay: '7s', percentage: { value: 150 } } } });
    expect(weftCodes(VirtualService, spec)).toEqual(['WEFT_ERR_POLICY_PERCENT']);
    expect(weftCodes(VirtualService, route({ mirror: { host: 'shadow' }, mirrorPercentage: { value: -1 } }))).toEqual([
      'WEFT_ERR_POLICY_PERCENT',
    ]);
  });

  it('a host that is not a host name is WEFT_ERR_POLICY_HOST', () => {
    expect(weftCodes(DestinationRule, { host: 'reviews..default' })).toEqual(['WEFT_ERR_POLICY_HOST']);
  });

  it('a value outside an enum is refused with zod’s own code', () => {
    const issues = issuesOf(DestinationRule, {
      host: 'reviews',
      trafficPolicy: { loadBalancer: { simple: 'LEAST_CONNS' } },
    });
    expect(issues[0]).toMatchObject({ code: 'invalid_value', path: ['trafficPolicy', 'loadBalancer', 'simple'] });
  });

  it('a missing required field is refused', () => {
    const issues = issuesOf(DestinationRule, { subsets: [{ labels: { version: 'v1' } }] });
    expect(issues.map((i) => i.path)).toEqual([['host'], ['subsets', 0, 'name']]);
  });

  it('a CUSTOM AuthorizationPolicy without a provider is WEFT_ERR_POLICY_FIELD_REQUIRED', () => {
    expect(weftCodes(AuthorizationPolicy, { action: 'CUSTOM', rules: [{}] })).toEqual([
      'WEFT_ERR_POLICY_FIELD_REQUIRED',
    ]);
    expect(issuesOf(AuthorizationPolicy, { action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{}] })).toEqual(
      [],
    );
  });

  it('portLevelMtls needs a selector and port-number keys', () => {
    expect(weftCodes(PeerAuthentication, { portLevelMtls: { '8080': { mode: 'DISABLE' } } })).toEqual([
      'WEFT_ERR_POLICY_FIELD_REQUIRED',
    ]);
    const badKey = { selector: { matchLabels: { app: 'x' } }, portLevelMtls: { http: { mode: 'DISABLE' } } };
    expect(issuesOf(PeerAuthentication, badKey)).toMatchObject([
      { path: ['portLevelMtls', 'http'], params: { weft: 'WEFT_ERR_POLICY_VALUE' } },
    ]);
  });

  it('a JWT rule takes its key set from one place only', () => {
    const rule = { issuer: 'i', jwksUri: 'https://example.com/jwks.json', jwks: '{"keys":[]}' };
    expect(weftCodes(RequestAuthentication, { jwtRules: [rule] })).toEqual(['WEFT_ERR_POLICY_ONEOF']);
  });

  it('a ServiceEntry lists endpoints or selects workloads, not both', () => {
    const spec = {
      hosts: ['db.internal'],
      endpoints: [{ address: '10.0.0.1' }],
      workloadSelector: { labels: { app: 'db' } },
    };
    expect(weftCodes(ServiceEntry, spec)).toEqual(['WEFT_ERR_POLICY_ONEOF']);
  });

  it('reports every mistake of a resource at once', () => {
    const spec = {
      hosts: ['reviews'],
      http: [
        {
          route: [{ destination: { host: 'reviews' }, weight: -1 }],
          timeout: 'soon',
          retries: { attempts: 1, retryOn: 'everything' },
        },
      ],
    };
    expect(weftCodes(VirtualService, spec).sort()).toEqual([
      'WEFT_ERR_POLICY_DURATION',
      'WEFT_ERR_POLICY_VALUE',
      'WEFT_ERR_ROUTE_WEIGHT',
    ]);
  });
});

describe('findKind', () => {
  it.each(KINDS.flatMap((k) => k.versions.map((v) => [`${k.group}/${v}`, k.kind, k] as const)))(
    'finds %s %s',
    (apiVersion, kind, expected) => {
      expect(findKind(apiVersion, kind)).toBe(expected);
    },
  );

  it('reads networking kinds in v1, v1beta1 and v1alpha3 and security kinds in v1 and v1beta1', () => {
    expect(VirtualService.versions).toEqual(['v1', 'v1beta1', 'v1alpha3']);
    expect(DestinationRule.versions).toEqual(['v1', 'v1beta1', 'v1alpha3']);
    expect(ServiceEntry.versions).toEqual(['v1', 'v1beta1', 'v1alpha3']);
    for (const kind of [AuthorizationPolicy, PeerAuthentication, RequestAuthentication]) {
      expect(kind.versions).toEqual(['v1', 'v1beta1']);
    }
  });

  it('refuses an unknown version, group or kind', () => {
    expect(findKind('networking.istio.io/v2', 'VirtualService')).toBeUndefined();
    expect(findKind('security.istio.io/v1alpha3', 'AuthorizationPolicy')).toBeUndefined();
    expect(findKind('security.istio.io/v1', 'VirtualService')).toBeUndefined();
    expect(findKind('networking.istio.io/v1', 'Gateway')).toBeUndefined();
    expect(findKind('v1', 'VirtualService')).toBeUndefined();
  });
});

/** The schema at a path such as `http[].retries`, or `undefined` if the path names no field. */
function schemaAt(root: z.ZodType, path: string): z.ZodType | undefined {
  let schema: z.ZodType | undefined = root;
  for (const segment of path.split('.')) {
    const array = segment.endsWith('[]');
    const name = array ? segment.slice(0, -2) : segment;
    schema = unwrap(schema);
    if (!(schema instanceof z.ZodObject)) return undefined;
    schema = (schema.shape as Record<string, z.ZodType>)[name];
    if (schema === undefined) return undefined;
    if (array) {
      schema = unwrap(schema);
      if (!(schema instanceof z.ZodArray)) return undefined;
      schema = schema.element as z.ZodType;
    }
  }
  return schema;
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let s = schema;
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}

describe('unimplemented fields', () => {
  it.each(KINDS.map((k) => [k.kind, k] as const))('every path listed for %s names a field of its schema', (_, kind) => {
    for (const path of kind.unimplemented.filter((p) => p !== ''))
      expect(schemaAt(kind.spec, path), path).toBeDefined();
  });

  it('leaves identity fields out', () => {
    expect(VirtualService.unimplemented).not.toContain('hosts');
    expect(DestinationRule.unimplemented).not.toContain('host');
    expect(DestinationRule.unimplemented).not.toContain('subsets[].labels');
    expect(DestinationRule.unimplemented).toContain('subsets[].trafficPolicy.tls.credentialName');
    expect(DestinationRule.unimplemented).not.toContain('subsets[].trafficPolicy.tls.sni');
    expect(DestinationRule.unimplemented).not.toContain('subsets[].trafficPolicy.tls');
  });
});

describe('warnings about fields weft does not act on', () => {
  const check = (value: unknown) => checkDocument(codeDocument(value, 'policy[0]'), 'default');
  const unimplemented = (value: unknown) =>
    check(value)
      .problems.filter((p) => p.code === 'WEFT_WARN_POLICY_UNIMPLEMENTED')
      .map((p) => p.path);

  it('are not given for what the mesh acts on: a VirtualService route with every such field, and TLS origination', () => {
    expect(
      unimplemented({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'reviews' },
        spec: {
          hosts: ['reviews'],
          http: [
            {
              name: 'main',
              match: [{ uri: { prefix: '/api' }, headers: { 'x-user': { exact: 'a' } } }],
              rewrite: { uri: '/v1' },
              route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 100 }],
              timeout: '2s',
              retries: { attempts: 3, perTryTimeout: '500ms', retryOn: '5xx,reset' },
              fault: { delay: { fixedDelay: '1s', percentage: { value: 1 } } },
              mirror: { host: 'reviews', subset: 'v2' },
              headers: { request: { set: { 'x-mesh': 'weft' } } },
            },
          ],
        },
      }),
    ).toEqual([]);
    expect(
      unimplemented({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'api' },
        spec: {
          host: 'api.example.com',
          trafficPolicy: {
            tls: { mode: 'MUTUAL', caCertificates: '/c', clientCertificate: '/a', privateKey: '/b', sni: 'x' },
          },
        },
      }),
    ).toEqual([]);
  });

  it('are given for what it does not', () => {
    expect(
      unimplemented({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'reviews' },
        spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }], corsPolicy: {} }] },
      }),
    ).toEqual(['spec.http[0].corsPolicy']);
  });
});
