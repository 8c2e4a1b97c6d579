// The policy loader as a user meets it: files and objects, precise errors, last-known-good reloads, watching.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMesh, isWeftError, type WeftError } from '@weft/mesh';
import { analyze, compileInput, PolicyStore } from '@weft/policy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-policy-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const reviewsRule = (subsets: string[]) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
${subsets.map((s) => `  - name: ${s}\n    labels:\n      version: ${s}`).join('\n')}
`;

const misspelled = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - rout:
    - destination:
        host: reviews
`;

describe('loading policy', () => {
  it('reads files, directories and objects, a later source replacing an earlier resource of the same name', async () => {
    await writeFile(join(dir, 'a.yaml'), reviewsRule(['v1']));
    const store = new PolicyStore({ namespace: 'default', clusterDomain: 'cluster.local', watch: false });
    const snapshot = await store.update([
      dir,
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'reviews' },
        spec: { host: 'reviews', subsets: [{ name: 'v2', labels: { version: 'v2' } }] },
      },
    ]);
    expect(snapshot.version).toBe(1);
    expect(snapshot.sources).toEqual([dir, 'policy[1]']);
    const host = snapshot.forHost('reviews.default.svc.cluster.local');
    expect(host?.destinationRules.map((r) => (r.spec as { subsets: { name: string }[] }).subsets[0]?.name)).toEqual([
      'v2',
    ]);
    expect(host?.destinationRules[0]?.origin).toBe('policy[1]');
  });

  it('names the file, line, column, resource and field of a misspelled field, with a suggestion', async () => {
    const file = join(dir, 'vs.yaml');
    await writeFile(file, misspelled);
    const { problems } = await compileInput(file, 'default');
    expect(problems).toContainEqual(
      expect.objectContaining({
        code: 'WEFT_ERR_POLICY_FIELD_UNKNOWN',
        source: `${file}:9:5`,
        resource: 'VirtualService default/reviews',
        path: 'spec.http[0].rout',
        severity: 'error',
      }),
    );
    expect(problems.find((p) => p.path === 'spec.http[0].rout')?.message).toContain('did you mean "route"?');
  });

  it('reports every problem of a load at once, across files', async () => {
    await writeFile(join(dir, 'a.yaml'), misspelled);
    await writeFile(
      join(dir, 'b.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata:\n  name: x\n',
    );
    await writeFile(join(dir, 'c.yaml'), 'spec: [unclosed\n');
    const { problems } = await compileInput(dir, 'default');
    // The misspelled `rout` also leaves the route without its required destination part (a oneof).
    expect(problems.map((p) => p.code).sort()).toEqual([
      'WEFT_ERR_POLICY_FIELD_UNKNOWN',
      'WEFT_ERR_POLICY_KIND',
      'WEFT_ERR_POLICY_ONEOF',
      'WEFT_ERR_POLICY_PARSE',
    ]);
    expect(problems.find((p) => p.code === 'WEFT_ERR_POLICY_KIND')?.message).toContain(
      'did you mean "VirtualService"?',
    );
  });

  it('says which source cannot be read', async () => {
    const { problems } = await compileInput([join(dir, 'missing.yaml'), join(dir, '*.json')], 'default');
    expect(problems.map((p) => [p.code, p.message])).toEqual([
      ['WEFT_ERR_POLICY_SOURCE', 'no such file or directory'],
      ['WEFT_ERR_POLICY_SOURCE', 'the glob matches no file'],
    ]);
  });

  it('warns about a field weft does not act on yet instead of ignoring it', async () => {
    const file = join(dir, 'vs.yaml');
    await writeFile(file, misspelled.replace('rout:', 'corsPolicy:\n      allowMethods: [GET]\n    route:'));
    const { problems } = await compileInput(file, 'default');
    const cors = problems.find((p) => p.path === 'spec.http[0].corsPolicy');
    expect(cors).toMatchObject({
      code: 'WEFT_WARN_POLICY_UNIMPLEMENTED',
      severity: 'warning',
      source: `${file}:9:5`,
    });
  });
});

describe("Istio's Bookinfo samples", () => {
  const fixtures = new URL('./fixtures/istio/', import.meta.url).pathname;

  it('load unmodified, each sample on its own, with no error', async () => {
    for (const file of ['bookinfo', 'security', 'service-entry.yaml']) {
      const { problems, resources } = await compileInput(join(fixtures, file), 'default');
      expect(
        problems.filter((p) => p.severity === 'error'),
        file,
      ).toEqual([]);
      expect(resources.length, file).toBeGreaterThan(0);
    }
  });

  it('load the security samples without a warning: weft enforces every kind and field they use', async () => {
    const { problems, resources } = await compileInput(join(fixtures, 'security'), 'default');
    const security = resources.filter((r) => r.apiVersion.startsWith('security.istio.io/'));
    const warned = new Set(problems.filter((p) => p.code === 'WEFT_WARN_POLICY_UNIMPLEMENTED').map((p) => p.resource));
    expect(security.map((r) => r.kind).sort()).toEqual([
      ...Array(6).fill('AuthorizationPolicy'),
      'PeerAuthentication',
      'RequestAuthentication',
    ]);
    for (const r of security) expect(warned).not.toContain(`${r.kind} ${r.namespace}/${r.name}`);
  });

  it('route reviews to the subsets their DestinationRule defines', async () => {
    const { resources } = await compileInput(
      [
        join(fixtures, 'bookinfo/destination-rule-all.yaml'),
        join(fixtures, 'bookinfo/virtual-service-reviews-90-10.yaml'),
      ],
      'default',
    );
    expect(analyze(resources, { namespace: 'default', clusterDomain: 'cluster.local' })).toEqual([]);
    const missing = await compileInput(join(fixtures, 'bookinfo/virtual-service-reviews-90-10.yaml'), 'default');
    const findings = analyze(missing.resources, { namespace: 'default', clusterDomain: 'cluster.local' });
    expect(findings.map((f) => [f.code, f.severity])).toEqual([
      ['WEFT_ANALYZE_SUBSET_UNKNOWN', 'error'],
      ['WEFT_ANALYZE_SUBSET_UNKNOWN', 'error'],
    ]);
    expect(findings[0]?.source).toMatch(/virtual-service-reviews-90-10\.yaml:\d+:\d+$/);
  });
});

describe('reloading policy', () => {
  it('keeps the last good snapshot when an update is bad, and says why', async () => {
    const store = new PolicyStore({ namespace: 'default', clusterDomain: 'cluster.local', watch: false });
    const errors: WeftError[] = [];
    store.onError((e) => errors.push(e));
    const good = await store.update({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'reviews' },
      spec: { host: 'reviews' },
    });
    const bad = await store
      .update({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'reviews' },
        spec: { hots: 'x' },
      })
      .catch((e: unknown) => e);
    expect(isWeftError(bad, 'WEFT_ERR_CONFIG_INVALID')).toBe(true);
    expect(store.current()).toBe(good);
    expect(store.lastError).toBe(bad);
    expect(errors).toEqual([bad]);
    expect(store.counters).toEqual({ loads: 1, rejections: 1 });
    expect((bad as WeftError).problems).toContainEqual(
      expect.objectContaining({ code: 'WEFT_ERR_POLICY_FIELD_UNKNOWN', source: 'policy', path: 'spec.hots' }),
    );
  });

  it('reloads a watched file when it changes, and keeps serving the old policy while the file is broken', async () => {
    const file = join(dir, 'dr.yaml');
    await writeFile(file, reviewsRule(['v1']));
    const store = new PolicyStore({ namespace: 'default', clusterDomain: 'cluster.local', reloadDebounceMs: 20 });
    const versions: number[] = [];
    store.onChange((s) => versions.push(s.version));
    const errors: string[] = [];
    store.onError((e) => errors.push(e.problems[0]?.code ?? ''));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      await store.update(file);
      await writeFile(file, reviewsRule(['v1', 'v2']));
      await expect.poll(() => store.current().version, { timeout: 5_000 }).toBe(2);
      await writeFile(file, `${reviewsRule(['v1'])}  trafficPolcy: {}\n`);
      await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0);
      expect(store.current().version).toBe(2);
      expect(errors[0]).toBe('WEFT_ERR_POLICY_FIELD_UNKNOWN');
      await expect.poll(() => warnings, { timeout: 5_000 }).toContain('WeftPolicyWarning');
      await writeFile(file, reviewsRule(['v3']));
      await expect.poll(() => store.current().version, { timeout: 5_000 }).toBe(3);
      const subsets = store.current().forHost('reviews.default.svc.cluster.local')?.destinationRules[0]?.spec as {
        subsets: { name: string }[];
      };
      expect(subsets.subsets.map((s) => s.name)).toEqual(['v3']);
      expect(store.lastError).toBeUndefined();
    } finally {
      process.off('warning', onWarning);
      store.close();
    }
  });
});

describe('createMesh with policy', () => {
  it('refuses to start on policy it cannot read, naming the file and line', async () => {
    const file = join(dir, 'vs.yaml');
    await writeFile(file, misspelled);
    const error = (await createMesh({ service: 'productpage', policy: file }).catch((e: unknown) => e)) as WeftError;
    expect(error.code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect(error.message).toContain(`${file}:9:5 VirtualService default/reviews spec.http[0].rout`);
  });

  it('analyses each load against what discovery knows, without refusing it', async () => {
    const route = (host: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: host },
      spec: { hosts: [host], http: [{ route: [{ destination: { host, subset: 'v9' } }] }] },
    });
    const mesh = await createMesh({
      service: 'productpage',
      discovery: { static: { reviews: ['127.0.0.1:9081'] } },
      policy: [route('reviews'), route('ratings')],
    });
    try {
      const findings = mesh.policy.current().findings.map((f) => [f.code, f.resource, f.severity]);
      expect(findings).toEqual([
        ['WEFT_ANALYZE_SUBSET_UNKNOWN', 'VirtualService default/reviews', 'error'],
        ['WEFT_ANALYZE_HOST_UNKNOWN', 'VirtualService default/ratings', 'warning'],
        ['WEFT_ANALYZE_SUBSET_UNKNOWN', 'VirtualService default/ratings', 'error'],
      ]);
      expect(mesh.policy.current().version).toBe(1);
    } finally {
      await mesh.close();
    }
  });

  it('exposes the snapshot in a printable form', async () => {
    const mesh = await createMesh({
      service: 'productpage',
      policy: {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'DestinationRule',
        metadata: { name: 'ratings' },
        spec: { host: 'ratings' },
      },
    });
    try {
      const printed = JSON.parse(JSON.stringify(mesh.policy.current()));
      expect(printed).toMatchObject({
        version: 1,
        sources: ['policy'],
        resources: [
          { kind: 'DestinationRule', metadata: { name: 'ratings', namespace: 'default' }, spec: { host: 'ratings' } },
        ],
      });
    } finally {
      await mesh.close();
    }
  });
});
