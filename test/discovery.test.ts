// Discovery sources: precedence between them, a watched file, and DNS (A and SRV, by TTL) from a DNS server on loopback; static stability when a source fails.
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Endpoint } from '@weft/core';
import { ServiceRegistry } from '@weft/mesh';
import { describe, expect, it } from 'vitest';
import { dnsDiscovery } from '../packages/mesh/dist/discovery/dns.js';
import { fileDiscovery } from '../packages/mesh/dist/discovery/file.js';
import { type DnsServer, startDnsServer } from './support/dns-server.js';
import { mesh, upstream } from './support/lifecycle.js';
import { until } from './support/wait.js';

const registry = () => new ServiceRegistry({ namespace: 'default', clusterDomain: 'cluster.local' });
const ep = (address: string): Endpoint => {
  const [host, port] = address.split(':') as [string, string];
  return { address, host, port: Number(port), labels: {}, locality: '', weight: 1 };
};
const addresses = (r: ServiceRegistry, host: string) => r.lookup(host)?.snapshot.endpoints.map((e) => e.address) ?? [];

describe('sources and precedence', () => {
  it('takes each service from the source of lowest precedence that has it; a dropped service falls to the next', () => {
    const r = registry();
    const file = r.attach('file', 10);
    const code = r.attach('static', 0);
    file.replaceAll(
      new Map([
        ['reviews', [ep('10.0.0.1:80')]],
        ['ratings', [ep('10.0.0.2:80')]],
      ]),
    );
    code.replaceAll(new Map([['reviews', [ep('10.0.0.9:80')]]]));
    expect(addresses(r, 'reviews')).toEqual(['10.0.0.9:80']);
    expect(addresses(r, 'ratings')).toEqual(['10.0.0.2:80']);
    code.replaceAll(new Map());
    expect(addresses(r, 'reviews')).toEqual(['10.0.0.1:80']);
  });

  it('keeps the last endpoints of a source that fails, and shows it stale until it answers again', () => {
    const r = registry();
    const dns = r.attach('dns', 20);
    dns.set('reviews', [ep('10.0.0.1:80')]);
    dns.stale('SERVFAIL');
    expect(addresses(r, 'reviews')).toEqual(['10.0.0.1:80']);
    expect(r.sources()[0]?.stale).toMatchObject({ reason: 'SERVFAIL', since: expect.any(Number) });
    dns.set('reviews', [ep('10.0.0.2:80')]);
    expect(r.sources()[0]?.stale).toBeUndefined();
  });
});

describe('file discovery', () => {
  it('reads a YAML file, follows its changes, and keeps the last good set when an edit does not check out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-endpoints-'));
    const path = join(dir, 'endpoints.yaml');
    await writeFile(
      path,
      'services:\n  reviews:\n    - 127.0.0.1:9080\n    - address: 127.0.0.1:9081\n      labels: { version: v2 }\n',
    );
    const r = registry();
    const errors: string[] = [];
    const source = fileDiscovery(path, { onError: (e) => errors.push(e.message) });
    await source.start(r.attach(source.name, 10));
    try {
      expect(addresses(r, 'reviews')).toEqual(['127.0.0.1:9080', '127.0.0.1:9081']);
      expect(r.lookup('reviews')?.snapshot.endpoints[1]?.labels).toEqual({ version: 'v2' });

      // Replaced by rename, as editors and Kubernetes do.
      await writeFile(`${path}.tmp`, 'services:\n  reviews: [127.0.0.1:9082]\n  ratings: [127.0.0.1:9090]\n');
      await rename(`${path}.tmp`, path);
      await until(() => addresses(r, 'ratings').length === 1, 5_000);
      expect(addresses(r, 'reviews')).toEqual(['127.0.0.1:9082']);

      await writeFile(path, 'services:\n  reviews:\n    - adress: 127.0.0.1:1\n');
      await until(() => errors.length > 0, 5_000);
      expect(errors[0]).toMatch(/endpoints\.yaml:3:\d+/);
      expect(addresses(r, 'reviews')).toEqual(['127.0.0.1:9082']);
      expect(r.sources()[0]?.stale?.reason).toContain('the last good endpoints stay');
    } finally {
      await source.close();
    }
  });

  it('refuses a first read that does not check out, naming the file, line and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-endpoints-'));
    const path = join(dir, 'endpoints.yaml');
    await writeFile(path, 'services:\n  reviews:\n    - 127.0.0.1\n');
    const source = fileDiscovery(path, { watch: false });
    await expect(source.start(registry().attach('file', 10))).rejects.toMatchObject({
      code: 'WEFT_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/WEFT_ERR_ADDRESS at .*endpoints\.yaml:3:\d+ services\.reviews\[0\]/),
    });
  });
});

describe('DNS discovery', () => {
  async function withDns(run: (dns: DnsServer) => Promise<void>): Promise<void> {
    const dns = await startDnsServer();
    try {
      await run(dns);
    } finally {
      await dns.close();
    }
  }

  it('resolves A records with the port given and resolves again when the TTL runs out', async () => {
    await withDns(async (dns) => {
      dns.records.set('reviews.example.test', [
        { type: 'A', address: '127.0.0.10', ttl: 1 },
        { type: 'A', address: '127.0.0.11', ttl: 1 },
      ]);
      const r = registry();
      const source = dnsDiscovery(
        { reviews: { name: 'reviews.example.test', port: 9080, labels: { version: 'v1' } } },
        { servers: [dns.address], minRefreshMs: 100 },
      );
      await source.start(r.attach(source.name, 20));
      try {
        expect(addresses(r, 'reviews').sort()).toEqual(['127.0.0.10:9080', '127.0.0.11:9080']);
        expect(r.lookup('reviews')?.snapshot.endpoints[0]?.labels).toEqual({ version: 'v1' });
        dns.records.set('reviews.example.test', [{ type: 'A', address: '127.0.0.12', ttl: 1 }]);
        await until(() => addresses(r, 'reviews').join() === '127.0.0.12:9080', 4_000);
      } finally {
        await source.close();
      }
    });
  });

  it('takes targets, ports and weights from SRV records, lowest priority first', async () => {
    await withDns(async (dns) => {
      dns.records.set('_http._tcp.ratings.example.test', [
        { type: 'SRV', target: 'a.example.test', port: 9001, priority: 10, weight: 3, ttl: 30 },
        { type: 'SRV', target: 'b.example.test', port: 9002, priority: 10, weight: 1, ttl: 30 },
        { type: 'SRV', target: 'backup.example.test', port: 9003, priority: 20, weight: 1, ttl: 30 },
      ]);
      dns.records.set('a.example.test', [{ type: 'A', address: '127.0.0.21', ttl: 30 }]);
      dns.records.set('b.example.test', [{ type: 'A', address: '127.0.0.22', ttl: 30 }]);
      dns.records.set('backup.example.test', [{ type: 'A', address: '127.0.0.23', ttl: 30 }]);
      const r = registry();
      const source = dnsDiscovery(
        { ratings: { name: '_http._tcp.ratings.example.test', type: 'SRV' } },
        { servers: [dns.address] },
      );
      await source.start(r.attach(source.name, 20));
      try {
        const endpoints = r.lookup('ratings')?.snapshot.endpoints ?? [];
        expect(endpoints.map((e) => [e.address, e.weight]).sort()).toEqual([
          ['127.0.0.21:9001', 3],
          ['127.0.0.22:9002', 1],
        ]);
      } finally {
        await source.close();
      }
    });
  });

  it('keeps the endpoints while DNS fails, marks the source stale, and picks up changes when it answers again', async () => {
    await withDns(async (dns) => {
      dns.records.set('details.example.test', [{ type: 'A', address: '127.0.0.31', ttl: 1 }]);
      const r = registry();
      const errors: string[] = [];
      const source = dnsDiscovery(
        { details: { name: 'details.example.test', port: 9080 } },
        {
          servers: [dns.address],
          minRefreshMs: 100,
          maxRefreshMs: 400,
          onError: (_s, e) => errors.push(String((e as NodeJS.ErrnoException).code)),
        },
      );
      await source.start(r.attach(source.name, 20));
      try {
        dns.failWith = 'SERVFAIL';
        await until(() => errors.length >= 2, 6_000);
        expect(addresses(r, 'details')).toEqual(['127.0.0.31:9080']);
        expect(r.sources()[0]?.stale?.reason).toContain('details.example.test');
        dns.failWith = undefined;
        dns.records.set('details.example.test', [{ type: 'A', address: '127.0.0.32', ttl: 1 }]);
        await until(() => addresses(r, 'details').join() === '127.0.0.32:9080', 6_000);
        expect(r.sources()[0]?.stale).toBeUndefined();
        // A name that no longer exists is an answer: the service has no endpoints now.
        dns.records.delete('details.example.test');
        await until(() => addresses(r, 'details').length === 0, 6_000);
      } finally {
        await source.close();
      }
    });
  });

  it('feeds a mesh: calls go to the endpoints SRV names, and the admin endpoint lists the sources', async () => {
    await withDns(async (dns) => {
      const ratings = await upstream('ratings');
      dns.records.set('_http._tcp.ratings.example.test', [
        { type: 'SRV', target: 'r1.example.test', port: ratings.port, priority: 0, weight: 1, ttl: 30 },
      ]);
      dns.records.set('r1.example.test', [{ type: 'A', address: '127.0.0.1', ttl: 30 }]);
      const m = await mesh({
        service: 'reviews',
        discovery: {
          dns: {
            services: { ratings: { name: '_http._tcp.ratings.example.test', type: 'SRV' } },
            servers: [dns.address],
          },
        },
        logger: false,
      });
      const res = await m.fetch('http://ratings/ratings/0');
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect(ratings.seen).toHaveLength(1);
      const admin = await m.admin();
      const clusters = (await (await fetch(`${admin.url}/clusters`)).json()) as {
        sources: { name: string; services: number }[];
      };
      expect(clusters.sources.map((s) => [s.name, s.services])).toEqual([
        ['static', 0],
        ['serviceentry', 0],
        ['dns', 1],
      ]);
    });
  });

  it('takes the endpoints of a STATIC ServiceEntry from the policy, and follows it when the policy changes', async () => {
    const api = await upstream('api');
    const entry = (address: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'external-api' },
      spec: {
        hosts: ['api.example.test'],
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        location: 'MESH_EXTERNAL',
        resolution: 'STATIC',
        endpoints: [{ address, ports: { http: api.port }, labels: { zone: 'a' } }],
      },
    });
    const m = await mesh({ service: 'reviews', policy: [entry('127.0.0.1')], logger: false });
    const res = await m.fetch('http://api.example.test/v1');
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(api.seen.map((s) => s.url)).toEqual(['/v1']);
    expect(m.registry.lookup('api.example.test')?.snapshot.endpoints[0]).toMatchObject({
      address: `127.0.0.1:${api.port}`,
      labels: { zone: 'a' },
    });
    await m.policy.update([]);
    expect(m.registry.lookup('api.example.test')?.snapshot.endpoints).toEqual([]);
  });

  it('under REGISTRY_ONLY lets through a host that a DNS or NONE ServiceEntry declares, on its ports only', async () => {
    const api = await upstream('api');
    const other = await upstream('other');
    const entry = (name: string, hosts: string[], resolution: string, port: number) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name },
      spec: { hosts, ports: [{ number: port, name: 'http', protocol: 'HTTP' }], location: 'MESH_EXTERNAL', resolution },
    });
    const m = await mesh({
      service: 'reviews',
      outboundTrafficPolicy: 'REGISTRY_ONLY',
      policy: [entry('by-dns', ['localhost'], 'DNS', api.port)],
      logger: false,
    });
    const res = await m.fetch(`http://localhost:${api.port}/declared`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(api.seen.map((s) => s.url)).toEqual(['/declared']);
    // Another port of the same host is not declared: refused, and the message says what to add.
    await expect(m.fetch(`http://localhost:${other.port}/`)).rejects.toMatchObject({
      code: 'WEFT_ERR_REGISTRY_ONLY',
      message: expect.stringContaining('ServiceEntry'),
    });
    expect(m.policy.explain({ url: `http://localhost:${api.port}/` }).summary).toMatch(
      /declared outside the mesh by a ServiceEntry/,
    );
    // A NONE entry with a wildcard host covers names under it; a policy without the entry refuses again.
    await m.policy.update([entry('wild', ['*.localhost', 'localhost'], 'NONE', other.port)]);
    const second = await m.fetch(`http://localhost:${other.port}/wild`);
    expect(second.status).toBe(200);
    await second.arrayBuffer();
    await expect(m.fetch(`http://localhost:${api.port}/`)).rejects.toMatchObject({ code: 'WEFT_ERR_REGISTRY_ONLY' });
    expect(m.registry.outsideService(`api.localhost:${other.port}`, 'http')).toBe('*.localhost');
    expect(m.registry.outsideService(`localhostx:${other.port}`, 'http')).toBeUndefined();
  });

  it('applies the VirtualService of a host a ServiceEntry declares outside the mesh, under ALLOW_ANY too (Istio’s egress timeouts)', async () => {
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 1_000).unref();
    });
    const m = await mesh({
      service: 'reviews',
      policy: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'ServiceEntry',
          metadata: { name: 'slow-api' },
          spec: { hosts: ['127.0.0.1'], ports: [{ number: slow.port, name: 'http' }], resolution: 'NONE' },
        },
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'slow-api' },
          spec: { hosts: ['127.0.0.1'], http: [{ timeout: '150ms', route: [{ destination: { host: '127.0.0.1' } }] }] },
        },
      ],
      logger: false,
    });
    const started = Date.now();
    await expect(m.fetch(`http://127.0.0.1:${slow.port}/`)).rejects.toMatchObject({ code: 'WEFT_ERR_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(900);
    expect(m.policy.explain({ url: `http://127.0.0.1:${slow.port}/` })).toMatchObject({
      outcome: 'outside-service',
      service: '127.0.0.1',
      summary: expect.stringContaining('VirtualService default/slow-api apply'),
    });
    // The call is counted under the host, as Istio labels a ServiceEntry host.
    expect(await m.metrics()).toContain('destination_service="127.0.0.1"');
  });

  it('calls no endpoint that discovery marks UNHEALTHY or DRAINING, shows it with its health, and fails fast when none is healthy', async () => {
    const [a, b] = [await upstream('a'), await upstream('b')];
    const m = await mesh({
      service: 'productpage',
      discovery: {
        static: {
          reviews: [`127.0.0.1:${a.port}`, { address: `127.0.0.1:${b.port}`, health: 'DRAINING' }],
          ratings: [{ address: `127.0.0.1:${b.port}`, health: 'UNHEALTHY' }],
        },
      },
      logger: false,
    });
    for (let i = 0; i < 10; i++) await (await m.fetch('http://reviews/')).arrayBuffer();
    expect([a.seen.length, b.seen.length]).toEqual([10, 0]);
    expect(
      m
        .endpoints()
        .find((d) => d.service.startsWith('reviews.'))
        ?.endpoints.map((e) => e.health),
    ).toEqual(['HEALTHY', 'DRAINING']);
    await expect(m.fetch('http://ratings/')).rejects.toMatchObject({ code: 'WEFT_ERR_NO_HEALTHY_UPSTREAM' });
    expect(b.seen.length).toBe(0);
  });
});
