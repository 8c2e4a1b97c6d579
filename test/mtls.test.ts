// Mutual TLS between weft services over loopback: both ends prove who they are, the client checks it is talking to the right service, connections are pooled, certificates rotate under load.
import { CertificateAuthority, inspectCertificate } from '@weft/security';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';
import { continuousLoad } from './support/load.js';

const STRICT = {
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name: 'default' },
  spec: { mtls: { mode: 'STRICT' } },
};

/** A weft service on loopback with mTLS on, answering with the caller's principal; counts its connections. */
async function service(ca: CertificateAuthority, name: string, extra: Record<string, unknown> = {}) {
  const m = await mesh({ service: name, security: { identity: { ca }, ...extra }, policy: [STRICT], logger: false });
  const app = express();
  app.use(m.express());
  app.get(/.*/, (req, res) => {
    res.json({ served: name, caller: req.weft?.peer?.principal ?? null });
  });
  const server = await m.listen(app);
  let connections = 0;
  server.server.on('connection', () => connections++);
  return { m, server, connections: () => connections };
}

describe('mutual TLS between weft services', () => {
  it('calls a STRICT service over mTLS: the server sees the caller’s identity, and connections are reused', async () => {
    const ca = await CertificateAuthority.create();
    const reviews = await service(ca, 'reviews');
    const productpage = await mesh({
      service: 'productpage',
      security: { identity: { ca } },
      discovery: { static: { reviews: [reviews.server.address] } },
      logger: false,
    });
    for (let i = 0; i < 20; i++) {
      const res = await productpage.fetch('http://reviews/r');
      expect(await res.json()).toEqual({ served: 'reviews', caller: 'cluster.local/ns/default/sa/productpage' });
    }
    // Keep-alive pooling: 20 sequential calls, not 20 handshakes (undici opens a second
    // connection early on, with TLS or without).
    expect(reviews.connections()).toBeLessThanOrEqual(2);
    expect(reviews.m.stats().security.tlsRefused).toEqual({});
  });

  it('refuses to send to an endpoint whose certificate names another service (secure naming)', async () => {
    const ca = await CertificateAuthority.create();
    const impostor = await service(ca, 'ratings');
    const productpage = await mesh({
      service: 'productpage',
      security: { identity: { ca } },
      // Discovery says this address is reviews; the workload there proves it is ratings.
      discovery: { static: { reviews: [impostor.server.address] } },
      logger: false,
    });
    const error = await productpage.fetch('http://reviews/r', { weft: { retries: { attempts: 0 } } }).catch((e) => e);
    expect(productpage.stats().security.peerIdentityRefused).toBe(1);
    expect(impostor.m.stats().inbound).toEqual([]);
    expect(error).toMatchObject({
      code: 'WEFT_ERR_PEER_IDENTITY',
      flag: 'UF',
      message: expect.stringContaining(
        'spiffe://cluster.local/ns/default/sa/ratings, not an identity its service may have',
      ),
    });
    // An endpoint labelled with the account it runs as is accepted.
    const labelled = await mesh({
      service: 'productpage',
      security: { identity: { ca } },
      discovery: {
        static: { reviews: [{ address: impostor.server.address, labels: { 'weft.io/service-account': 'ratings' } }] },
      },
      logger: false,
    });
    expect((await labelled.fetch('http://reviews/r')).status).toBe(200);
  });

  it('sends plaintext where the rule says DISABLE or the endpoint is labelled tlsMode disabled', async () => {
    const ca = await CertificateAuthority.create();
    const plain = await upstream('legacy');
    const m = await mesh({
      service: 'productpage',
      security: { identity: { ca } },
      discovery: {
        static: {
          legacy: [plain.address],
          old: [{ address: plain.address, labels: { 'security.istio.io/tlsMode': 'disabled' } }],
        },
      },
      policy: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name: 'legacy' },
          spec: { host: 'legacy', trafficPolicy: { tls: { mode: 'DISABLE' } } },
        },
      ],
      logger: false,
    });
    expect((await m.fetch('http://legacy/x')).status).toBe(200);
    expect((await m.fetch('http://old/y')).status).toBe(200);
    expect(plain.seen.map((s) => s.url)).toEqual(['/x', '/y']);
    // A rule asking for TLS to a server that speaks plaintext fails the handshake: never downgraded to plaintext.
    await m.policy.update([
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'legacy' },
        spec: { host: 'legacy', trafficPolicy: { tls: { mode: 'SIMPLE' } } },
      },
    ]);
    expect(await m.fetch('http://legacy/z').catch((e) => e)).toMatchObject({ code: 'WEFT_ERR_PEER_IDENTITY' });
    expect(plain.seen).toHaveLength(2);
  });

  it('calls an outside service of a ServiceEntry (MESH_EXTERNAL) in plaintext, and a MESH_INTERNAL one over mTLS', async () => {
    const ca = await CertificateAuthority.create();
    const outside = await upstream('outside');
    const entry = (name: string, host: string, location: string, address: string, port: number) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name },
      spec: {
        hosts: [host],
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        location,
        resolution: 'STATIC',
        endpoints: [{ address, ports: { http: port } }],
      },
    });
    const details = await service(ca, 'details');
    const m = await mesh({
      service: 'productpage',
      security: { identity: { ca } },
      policy: [
        entry('outside', 'api.example.test', 'MESH_EXTERNAL', '127.0.0.1', outside.port),
        entry('vm', 'details.default.svc.cluster.local', 'MESH_INTERNAL', '127.0.0.1', details.server.port),
      ],
      logger: false,
    });
    const res = await m.fetch('http://api.example.test/p');
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(outside.seen.map((s) => s.url)).toEqual(['/p']);
    // A host an entry declares without endpoints (resolution NONE) is called as it is too, also when
    // its VirtualService hedges the call (the backup attempt keeps the host's one endpoint).
    await m.policy.update([
      entry('outside', 'api.example.test', 'MESH_EXTERNAL', '127.0.0.1', outside.port),
      entry('vm', 'details.default.svc.cluster.local', 'MESH_INTERNAL', '127.0.0.1', details.server.port),
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'by-address' },
        spec: { hosts: ['127.0.0.1'], ports: [{ number: outside.port, name: 'http' }], resolution: 'NONE' },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'by-address', annotations: { 'weft.io/hedge-delay': '1ms' } },
        spec: { hosts: ['127.0.0.1'], http: [{ route: [{ destination: { host: '127.0.0.1' } }] }] },
      },
    ]);
    const direct = await m.fetch(`http://127.0.0.1:${outside.port}/q`);
    expect(direct.status).toBe(200);
    await direct.arrayBuffer();
    expect(outside.seen.map((s) => s.url)).toContain('/q');
    // The STRICT service behind a MESH_INTERNAL entry takes only mTLS: the call gets through, with the caller's identity.
    expect(await (await m.fetch('http://details/d')).json()).toEqual({
      served: 'details',
      caller: 'cluster.local/ns/default/sa/productpage',
    });
  });

  it('rotates one-minute certificates several times under continuous load with no failed request', async () => {
    const ca = await CertificateAuthority.create();
    // One-minute certificates renewed at a tenth of their life: a new one every 6 s on each side.
    const fast = { certificateTtlMs: 60_000, renewAtFraction: 0.1 };
    const reviews = await service(ca, 'reviews', fast);
    const productpage = await mesh({
      service: 'productpage',
      security: { identity: { ca }, ...fast },
      discovery: { static: { reviews: [reviews.server.address] } },
      // Connections are recycled every 50 requests, so new handshakes meet new certificates.
      policy: [{ service: 'reviews', connectionPool: { http: { maxRequestsPerConnection: 50 } } }],
      logger: false,
    });
    const firstClient = productpage.identity()?.chainPem;
    const firstServer = reviews.m.identity()?.chainPem;
    const load = continuousLoad(() => productpage.fetch('http://reviews/r'), { limitMs: 14_000 });
    await load.finished;
    expect(load.failures).toEqual([]);
    expect(load.ok).toBeGreaterThan(500);
    const serials = (pem: string | undefined) => inspectCertificate(pem ?? '')[0]?.serialNumber;
    expect(serials(productpage.identity()?.chainPem)).not.toBe(serials(firstClient));
    expect(serials(reviews.m.identity()?.chainPem)).not.toBe(serials(firstServer));
    // Several renewals, and connections made again and again (each a handshake with the certificates of the moment).
    expect(reviews.connections()).toBeGreaterThan(10);
  }, 30_000);
});
