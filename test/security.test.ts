// Mutual TLS on the serving side, PeerAuthentication modes and AuthorizationPolicy, over real TLS on loopback.
// @peculiar/x509 (used here to forge an expired certificate) needs the Reflect metadata API first.
import 'reflect-metadata';
import { mkdtemp, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Pkcs10CertificateRequest,
  SubjectAlternativeNameExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
import type { Logger, Mesh, MeshServer } from '@weft/mesh';
import { CertificateAuthority, createWorkloadKey } from '@weft/security';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { mesh } from './support/lifecycle.js';

const TD = 'cluster.local';
const id = (sa: string, ns = 'default') => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

interface Client {
  key: string;
  cert: string;
  ca: string;
}

async function clientOf(ca: CertificateAuthority, spiffeId: string): Promise<Client> {
  const key = await createWorkloadKey(spiffeId);
  const issued = await ca.sign({ csrPem: key.csrPem, spiffeId });
  return { key: key.privateKeyPem, cert: issued.chainPem, ca: issued.rootsPem };
}

/** A logger that keeps what it is told. */
function captureLog(): Logger & { lines: { level: string; fields: Record<string, unknown>; message: string }[] } {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => (fields: object, message: string) => {
    lines.push({ level, fields: fields as Record<string, unknown>, message });
  };
  return { lines, warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** One GET: over TLS with `client` (or none), or plaintext; the status and body, or the error code. */
function get(server: MeshServer, path: string, client?: Partial<Client> | 'plain'): Promise<string> {
  return new Promise((resolve) => {
    const common = { host: '127.0.0.1', port: server.port, path, agent: false as const };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    };
    const req =
      client === 'plain'
        ? httpRequest(common, onResponse)
        : httpsRequest({ ...common, ...client, checkServerIdentity: () => undefined }, onResponse);
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`ERR ${e.code ?? e.message}`));
    req.end();
  });
}

function app(m: Mesh) {
  const a = express();
  a.use(m.express());
  a.get(/.*/, (req, res) => {
    res.json({ path: req.url, peer: req.weft?.peer?.principal ?? null });
  });
  return a;
}

async function reviews(
  ca: CertificateAuthority,
  policy: Record<string, unknown>[] = [],
  logger?: Logger,
): Promise<{ m: Mesh; server: MeshServer }> {
  const m = await mesh({
    service: 'reviews',
    security: { identity: { ca } },
    policy,
    ...(logger === undefined ? {} : { logger }),
  });
  const server = await m.listen(app(m));
  return { m, server };
}

const peerAuth = (mode: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name: 'default', ...extra },
  spec: { mtls: { mode } },
});

const authz = (name: string, spec: unknown) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name },
  spec,
});

describe('mutual TLS on the serving side', () => {
  it('accepts mTLS and plaintext on one port under PERMISSIVE (the default), and tells the app who called', async () => {
    const ca = await CertificateAuthority.create();
    const { m, server } = await reviews(ca);
    expect(m.identity()?.spiffeId).toBe(id('reviews'));
    expect(await get(server, '/a', await clientOf(ca, id('productpage')))).toBe(
      `200 {"path":"/a","peer":"${TD}/ns/default/sa/productpage"}`,
    );
    expect(await get(server, '/b', 'plain')).toBe('200 {"path":"/b","peer":null}');
  });

  it('refuses plaintext at the socket under STRICT, and every bad client certificate at the TLS layer, with a reason logged and counted', async () => {
    const ca = await CertificateAuthority.create();
    const log = captureLog();
    const { m, server } = await reviews(ca, [peerAuth('STRICT')], log);
    const good = await clientOf(ca, id('productpage'));
    expect(await get(server, '/', good)).toMatch(/^200 /);

    expect(await get(server, '/', 'plain')).toMatch(/^ERR (ECONNRESET|EPIPE)/);
    const stranger = await clientOf(
      await CertificateAuthority.create({ trustDomain: 'other.org' }),
      'spiffe://other.org/ns/default/sa/productpage',
    );
    // It trusts our server; our server must not trust it.
    expect(await get(server, '/', { ...stranger, ca: good.ca })).toMatch(/^ERR /);
    expect(await get(server, '/', { ca: good.ca })).toMatch(/^ERR /);
    expect(await get(server, '/', { ...good, ...(await expiredCertificate(ca)) })).toMatch(/^ERR /);

    const refused = m.stats().security.tlsRefused;
    const reasons = Object.keys(refused).join('\n');
    expect(reasons).toContain('plaintext on a port whose PeerAuthentication is STRICT');
    expect(reasons).toContain('does not chain to this mesh');
    expect(reasons).toContain('without a certificate');
    expect(reasons).toContain('expired');
    expect(Object.values(refused).reduce((a, b) => a + b, 0)).toBe(4);
    expect(log.lines.filter((l) => l.level === 'warn' && l.fields.event === 'tls.refused')).toHaveLength(4);
  });

  it('serves a Fastify app behind the same front', async () => {
    const ca = await CertificateAuthority.create();
    const m = await mesh({
      service: 'ratings',
      security: { identity: { ca } },
      policy: [peerAuth('STRICT')],
      logger: false,
    });
    const f = Fastify();
    await f.register(m.fastify());
    f.get('/ratings/:id', async (req) => ({
      id: (req.params as { id: string }).id,
      peer: req.weft?.peer?.serviceAccount,
    }));
    const server = await m.listen(f);
    expect(await get(server, '/ratings/7', await clientOf(ca, id('reviews')))).toBe('200 {"id":"7","peer":"reviews"}');
    expect(await get(server, '/ratings/7', 'plain')).toMatch(/^ERR /);
  });
});

describe('authorization', () => {
  it('denies all with an empty ALLOW, then allows one principal; a denial is 403 "RBAC: access denied", logged and counted', async () => {
    const ca = await CertificateAuthority.create();
    const log = captureLog();
    const { m, server } = await reviews(ca, [authz('deny-all', {})], log);
    const pp = await clientOf(ca, id('productpage'));
    const ratings = await clientOf(ca, id('ratings'));
    expect(await get(server, '/', pp)).toMatch(/^403 .*RBAC: access denied/);

    await m.policy.update([
      authz('allow-productpage', {
        rules: [{ from: [{ source: { principals: [`${TD}/ns/default/sa/productpage`] } }] }],
      }),
    ]);
    expect(await get(server, '/reviews/1', pp)).toMatch(/^200 /);
    const denied = await get(server, '/reviews/1', ratings);
    expect(denied).toMatch(/^403 /);
    expect(denied).not.toContain('allow-productpage');
    expect(await get(server, '/reviews/1', 'plain')).toMatch(/^403 /);
    expect(m.stats().security.denied).toEqual({ '(no ALLOW policy matched)': 3 });
    expect(
      log.lines.find((l) => l.fields.event === 'authz.denied' && l.fields.principal === `${TD}/ns/default/sa/ratings`)
        ?.message,
    ).toContain('default/allow-productpage');
  });

  it('matches the normalised path, so dot segments, double slashes and encoded dots do not slip past a DENY, and the app routes on it', async () => {
    const ca = await CertificateAuthority.create();
    const { server } = await reviews(ca, [
      authz('no-admin', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] }),
    ]);
    for (const path of [
      '/admin',
      '/public/../admin',
      '//admin',
      '/%2e%2e/admin/users',
      '/public/%2E%2E/admin',
      '/ADMIN/../admin',
    ]) {
      expect(await get(server, path, 'plain'), path).toMatch(/^403 /);
    }
    expect(await get(server, '/public/./x/../page?q=1', 'plain')).toBe('200 {"path":"/public/page?q=1","peer":null}');
    expect(await get(server, '/admin%00', 'plain')).toMatch(/^400 /);
    // Encoded slashes stay encoded (so /admin%2Fx is not /admin/x), or are refused when the mesh says so.
    expect(await get(server, '/admin%2Fx', 'plain')).toBe('200 {"path":"/admin%2Fx","peer":null}');
    const strict = await mesh({
      service: 'details',
      security: { identity: { ca }, escapedSlashes: 'REJECT_REQUEST' },
      logger: false,
    });
    const strictServer = await strict.listen(app(strict));
    expect(await get(strictServer, '/admin%2Fx', 'plain')).toMatch(/^400 .*encoded slash/);
  });

  it('warns once when an Express app routes case-insensitively under a DENY on paths, and not once the app is case-sensitive', async () => {
    const ca = await CertificateAuthority.create();
    const log = captureLog();
    const adminRoute = (caseSensitive: boolean, m: Mesh) => {
      const a = express();
      if (caseSensitive) a.set('case sensitive routing', true);
      a.use(m.express());
      a.get('/admin', (_req, res) => {
        res.send('admin page');
      });
      return a;
    };
    const policy = [authz('no-admin', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] })];
    const m = await mesh({ service: 'reviews', security: { identity: { ca } }, policy, logger: log });
    const server = await m.listen(adminRoute(false, m));
    expect(await get(server, '/admin', 'plain')).toMatch(/^403 /);
    // What the warning is about: Istio's matcher is case-sensitive, Express's router by default is not.
    expect(await get(server, '/ADMIN', 'plain')).toBe('200 admin page');
    const warnings = log.lines.filter((l) => l.fields.event === 'authz.case_insensitive_routes');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain('default/no-admin');
    expect(warnings[0]?.message).toContain("app.set('case sensitive routing', true)");

    const quiet = captureLog();
    const m2 = await mesh({ service: 'details', security: { identity: { ca } }, policy, logger: quiet });
    const server2 = await m2.listen(adminRoute(true, m2));
    expect(await get(server2, '/ADMIN', 'plain')).toMatch(/^404 /);
    expect(quiet.lines.filter((l) => l.fields.event === 'authz.case_insensitive_routes')).toEqual([]);
  });

  it('runs a plain request listener given to mesh.listen through the server pipeline, and warns of an Express app without mesh.express()', async () => {
    const ca = await CertificateAuthority.create();
    const log = captureLog();
    const policy = [authz('no-admin', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] })];
    const m = await mesh({ service: 'reviews', security: { identity: { ca } }, policy, logger: log });
    const server = await m.listen((_req: unknown, res: import('node:http').ServerResponse) => {
      res.end('served');
    });
    expect(await get(server, '/admin', 'plain')).toMatch(/^403 /);
    expect(await get(server, '/page', 'plain')).toBe('200 served');
    expect(m.stats().inbound.map((s) => s.requests)).toEqual([2]);
    expect(log.lines.filter((l) => l.fields.event === 'listen.no_mesh_middleware')).toEqual([]);

    const bare = express();
    bare.get('/admin', (_req, res) => {
      res.send('unguarded');
    });
    await m.listen(bare);
    const warning = log.lines.find((l) => l.fields.event === 'listen.no_mesh_middleware');
    expect(warning?.message).toContain('app.use(mesh.express())');
  });
});

/** A certificate for productpage whose life ended an hour ago, signed by `ca`'s key. */
async function expiredCertificate(ca: CertificateAuthority): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-expired-'));
  await ca.save(dir);
  const { webcrypto } = await import('node:crypto');
  const importKey = async (pem: string) =>
    webcrypto.subtle.importKey(
      'pkcs8',
      Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
  const caKey = await importKey(await readFile(join(dir, 'ca-key.pem'), 'utf8'));
  const leafKey = await createWorkloadKey(id('productpage'));
  const csr = new Pkcs10CertificateRequest(leafKey.csrPem);
  const cert = await X509CertificateGenerator.create({
    subject: '',
    issuer: new X509Certificate(ca.rootsPem).subject,
    notBefore: new Date(Date.now() - 7_200_000),
    notAfter: new Date(Date.now() - 3_600_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: await csr.publicKey.export(),
    signingKey: caKey,
    extensions: [new SubjectAlternativeNameExtension([{ type: 'url', value: id('productpage') }], true)],
  });
  return { key: leafKey.privateKeyPem, cert: cert.toString('pem') };
}
