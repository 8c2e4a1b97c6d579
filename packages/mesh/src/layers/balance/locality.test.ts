// Tests of locality balancing: Istio's priority levels and distribute weights, Envoy's split of load by health.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import { describe, expect, it } from 'vitest';
import {
  type Caller,
  callerLocality,
  groupAt,
  type LocalityGroups,
  localityGroups,
  localityMatches,
  localityPlan,
  parseLocality,
} from './locality.js';

const at = (port: number, locality: string, labels: Record<string, string> = {}, weight = 1): Endpoint => ({
  address: `10.0.0.1:${port}`,
  host: '10.0.0.1',
  port,
  labels,
  locality,
  weight,
});
const snapshot = (endpoints: Endpoint[]): EndpointSnapshot => ({ service: 'reviews', endpoints, version: 1 });
const caller = (locality: string, labels: Record<string, string> = {}): Caller => ({
  locality: parseLocality(locality),
  labels,
});
const levels = (g: LocalityGroups | undefined): number[] => [...(g?.group ?? [])];

const endpoints = [
  at(1, 'us-east/a/x'), // same subzone
  at(2, 'us-east/a/y'), // same zone
  at(3, 'us-east/b/x'), // same region
  at(4, 'eu-west/c/x'), // the failover region
  at(5, 'ap-south/d/x'), // elsewhere
];

describe('callerLocality', () => {
  it("reads Istio's istio-locality label, or the Kubernetes topology labels", () => {
    expect(callerLocality({ 'istio-locality': 'us-east.a.x' })).toEqual({ region: 'us-east', zone: 'a', subzone: 'x' });
    expect(callerLocality({ 'topology.kubernetes.io/region': 'us-east', 'topology.kubernetes.io/zone': 'b' })).toEqual({
      region: 'us-east',
      zone: 'b',
      subzone: '',
    });
  });
});

describe('localityMatches', () => {
  it('matches a region, a region and zone, and * in any part', () => {
    const l = parseLocality('us-east/a/x');
    expect(localityMatches(l, 'us-east')).toBe(true);
    expect(localityMatches(l, 'us-east/a/*')).toBe(true);
    expect(localityMatches(l, '*/b')).toBe(false);
    expect(localityMatches(l, 'us-west/*')).toBe(false);
  });
});

describe('localityGroups', () => {
  it('ranks endpoints by closeness to the caller when outlier detection is on', () => {
    expect(levels(localityGroups(endpoints, undefined, caller('us-east/a/x'), true))).toEqual([0, 1, 2, 3, 3]);
  });

  it('does nothing without outlier detection, with enabled: false, or for a caller with no locality', () => {
    expect(localityGroups(endpoints, undefined, caller('us-east/a/x'), false)).toBeUndefined();
    expect(localityGroups(endpoints, { enabled: false }, caller('us-east/a/x'), true)).toBeUndefined();
    expect(localityGroups(endpoints, undefined, caller(''), true)).toBeUndefined();
  });

  it('puts the failover region of the caller before the other regions', () => {
    const g = localityGroups(
      endpoints,
      { failover: [{ from: 'us-east', to: 'eu-west' }] },
      caller('us-east/a/x'),
      true,
    );
    expect(levels(g)).toEqual([0, 1, 2, 3, 4]);
  });

  it('ranks by failoverPriority labels, the first label weighing most', () => {
    const labelled = [
      at(1, '', { network: 'n1', rack: 'r1' }),
      at(2, '', { network: 'n1', rack: 'r2' }),
      at(3, '', { network: 'n2', rack: 'r1' }),
    ];
    const me = caller('', { network: 'n1', rack: 'r1' });
    expect(levels(localityGroups(labelled, { failoverPriority: ['network', 'rack'] }, me, true))).toEqual([0, 1, 2]);
    // `label=value` compares with the value given, not the caller's.
    expect(levels(localityGroups(labelled, { failoverPriority: ['network=n2'] }, me, true))).toEqual([1, 1, 0]);
  });

  it('splits by distribute weights, sharing a pattern among the localities it matches, whatever outlier detection says', () => {
    const spread = [at(1, 'us-east/a'), at(2, 'us-east/a'), at(3, 'us-east/b'), at(4, 'eu-west/c'), at(5, 'ap/d')];
    const g = localityGroups(
      spread,
      { distribute: [{ from: 'us-east/a/*', to: { 'us-east/a': 60, 'eu-west/*': 40 } }] },
      caller('us-east/a/x'),
      false,
    );
    expect(g?.kind).toBe('weighted');
    // us-east/b and ap get nothing: no `to` names them.
    expect(levels(g)).toEqual([0, 0, -1, 2, -1]);
    expect([...(g?.weights ?? [])]).toEqual([60, 0, 40, 0]);
  });
});

describe('localityPlan', () => {
  const four = [at(1, 'us-east/a'), at(2, 'us-east/a'), at(3, 'us-east/a'), at(4, 'us-east/a'), at(5, 'us-east/b')];
  const full = snapshot(four);
  const groups = localityGroups(four, undefined, caller('us-east/a'), true) as LocalityGroups;
  const without = (...ports: number[]) => snapshot(four.filter((e) => !ports.includes(e.port)));

  it('keeps every call in the first level while at least 72 % of it is healthy', () => {
    const plan = localityPlan(full, groups, without(1));
    // 3 of 4 healthy: 140 × 3/4 = 105 % ≥ 100 %.
    expect(plan?.only).toBe(0);
    expect(plan?.snapshots[0]?.endpoints.map((e) => e.port)).toEqual([2, 3, 4]);
  });

  it('spills the missing share to the next level below that', () => {
    const plan = localityPlan(full, groups, without(1, 2)); // 2 of 4: 70 % stays, 30 % spills
    expect(plan?.only).toBe(-1);
    expect(plan?.upTo[0]).toBeCloseTo(0.7, 10);
    expect(groupAt(plan as never, 0.69)).toBe(0);
    expect(groupAt(plan as never, 0.71)).toBe(1);
    expect(localityPlan(full, groups, without(1, 2, 3, 4))?.only).toBe(1);
  });
});
