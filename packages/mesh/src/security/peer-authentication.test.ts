// PeerAuthentication precedence: workload over namespace over mesh, port over workload, UNSET defers, PERMISSIVE by default.
import { PolicySnapshot } from '@weft/policy';
import { describe, expect, it } from 'vitest';
import { mtlsModeFor } from './peer-authentication.js';

function snapshot(...items: { name: string; namespace?: string; spec: unknown }[]): PolicySnapshot {
  return new PolicySnapshot(
    1,
    ['test'],
    items.map((i) => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      name: i.name,
      namespace: i.namespace ?? 'default',
      labels: {},
      annotations: {},
      spec: i.spec,
      origin: 'test',
      key: `PeerAuthentication/${i.namespace ?? 'default'}/${i.name}`,
      locate: () => 'test',
    })),
    [],
    { namespace: 'default', clusterDomain: 'cluster.local' },
  );
}

const reviews = { namespace: 'default', labels: { app: 'reviews' }, rootNamespace: 'istio-system' };

describe('PeerAuthentication mode of a port', () => {
  it('is PERMISSIVE when nothing says otherwise', () => {
    expect(mtlsModeFor(snapshot(), reviews, 9080)).toBe('PERMISSIVE');
  });

  it('takes the mesh policy, then the namespace’s over it, then the workload’s over both', () => {
    const mesh = { name: 'mesh', namespace: 'istio-system', spec: { mtls: { mode: 'STRICT' } } };
    const ns = { name: 'ns', spec: { mtls: { mode: 'PERMISSIVE' } } };
    const workload = { name: 'wl', spec: { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'DISABLE' } } };
    expect(mtlsModeFor(snapshot(mesh), reviews, 9080)).toBe('STRICT');
    expect(mtlsModeFor(snapshot(mesh, ns), reviews, 9080)).toBe('PERMISSIVE');
    expect(mtlsModeFor(snapshot(mesh, ns, workload), reviews, 9080)).toBe('DISABLE');
    // Another namespace's policy and another workload's selector do not apply.
    const elsewhere = { name: 'x', namespace: 'other', spec: { mtls: { mode: 'DISABLE' } } };
    const ratingsOnly = {
      name: 'r',
      spec: { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'DISABLE' } },
    };
    expect(mtlsModeFor(snapshot(mesh, elsewhere, ratingsOnly), reviews, 9080)).toBe('STRICT');
  });

  it('lets a port-level mode win for its port, and UNSET defer to the level above', () => {
    const ns = { name: 'ns', spec: { mtls: { mode: 'STRICT' } } };
    const workload = {
      name: 'wl',
      spec: {
        selector: { matchLabels: { app: 'reviews' } },
        mtls: { mode: 'UNSET' },
        portLevelMtls: { '15090': { mode: 'DISABLE' } },
      },
    };
    expect(mtlsModeFor(snapshot(ns, workload), reviews, 15090)).toBe('DISABLE');
    expect(mtlsModeFor(snapshot(ns, workload), reviews, 9080)).toBe('STRICT');
  });
});
