// TLS a DestinationRule originates (Istio's tls.mode SIMPLE and MUTUAL): the app calls http://, weft speaks TLS to an outside HTTPS server with the rule's files.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mesh } from './support/lifecycle.js';
import { startTestCa, type TestCa } from './support/pki.js';

let dir: string;
let serverCa: TestCa;
let clientCa: TestCa;
const files: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-origination-'));
  serverCa = await startTestCa('outside server CA');
  clientCa = await startTestCa('outside client CA');
  const other = await startTestCa('some other CA');
  const client = await clientCa.issue(['reviews.example.test']);
  const write = async (name: string, text: string) => {
    files[name] = join(dir, name);
    await writeFile(files[name], text);
  };
  await write('ca.pem', serverCa.certPem);
  await write('other-ca.pem', other.certPem);
  await write('client.pem', client.cert);
  await write('client-key.pem', client.key);
});

interface Seen {
  url: string;
  servername: string | false | null;
  clientCert: string | undefined;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** An outside HTTPS server on loopback with a certificate for api.example.test; with `clients`, it asks for and checks client certificates. */
async function outsideServer(clients?: TestCa): Promise<{ port: number; seen: Seen[] }> {
  const { cert, key } = await serverCa.issue(['api.example.test']);
  const seen: Seen[] = [];
  const server = createServer(
    clients === undefined
      ? { cert, key }
      : { cert, key, ca: clients.certPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      seen.push({
        url: req.url ?? '',
        servername: socket.servername,
        clientCert: socket.getPeerCertificate().subjectaltname,
      });
      res.end('secure');
    },
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, seen };
}

/** api.example.test outside the mesh, its one endpoint on loopback at `port`: called as http:// on 80, or as https:// on 443. */
const serviceEntry = (port: number, protocol: 'HTTP' | 'HTTPS' = 'HTTP') => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name: 'api' },
  spec: {
    hosts: ['api.example.test'],
    ports: [
      protocol === 'HTTP'
        ? { number: 80, name: 'http', protocol: 'HTTP' }
        : { number: 443, name: 'https', protocol: 'HTTPS' },
    ],
    location: 'MESH_EXTERNAL',
    resolution: 'STATIC',
    endpoints: [{ address: '127.0.0.1', ports: { [protocol.toLowerCase()]: port } }],
  },
});
const rule = (tls: Record<string, unknown>) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'api' },
  spec: { host: 'api.example.test', trafficPolicy: { tls } },
});

describe('TLS origination (DestinationRule tls SIMPLE and MUTUAL)', () => {
  it('SIMPLE: a plain http:// call goes out over TLS, SNI from the host, the server checked against the rule’s CA file', async () => {
    const api = await outsideServer();
    const m = await mesh({
      service: 'reviews',
      policy: [serviceEntry(api.port), rule({ mode: 'SIMPLE', caCertificates: files['ca.pem'] })],
      logger: false,
    });
    const res = await m.fetch('http://api.example.test/v1/items');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('secure');
    expect(api.seen).toEqual([{ url: '/v1/items', servername: 'api.example.test', clientCert: undefined }]);

    // A rule trusting another CA refuses the server: a typed error, nothing sent, never plaintext.
    await m.policy.update([serviceEntry(api.port), rule({ mode: 'SIMPLE', caCertificates: files['other-ca.pem'] })]);
    await expect(m.fetch('http://api.example.test/v2')).rejects.toMatchObject({ code: 'WEFT_ERR_PEER_IDENTITY' });
    // insecureSkipVerify checks neither chain nor name, as in Istio.
    await m.policy.update([
      serviceEntry(api.port),
      rule({ mode: 'SIMPLE', caCertificates: files['other-ca.pem'], insecureSkipVerify: true }),
    ]);
    expect((await m.fetch('http://api.example.test/v3')).status).toBe(200);
    expect(api.seen.map((s) => s.url)).toEqual(['/v1/items', '/v3']);
  });

  it('SIMPLE: `sni` replaces the host in the handshake and the name check; `subjectAltNames` names what the certificate must carry', async () => {
    const api = await outsideServer();
    const m = await mesh({
      service: 'reviews',
      policy: [
        serviceEntry(api.port),
        rule({ mode: 'SIMPLE', caCertificates: files['ca.pem'], sni: 'edge.example.test' }),
      ],
      logger: false,
    });
    // The certificate is for api.example.test, not the SNI given: refused.
    const refused = await m.fetch('http://api.example.test/a').catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: 'WEFT_ERR_PEER_IDENTITY',
      message: expect.stringContaining('edge.example.test'),
    });
    await m.policy.update([
      serviceEntry(api.port),
      rule({
        mode: 'SIMPLE',
        caCertificates: files['ca.pem'],
        sni: 'edge.example.test',
        subjectAltNames: ['api.example.test'],
      }),
    ]);
    expect((await m.fetch('http://api.example.test/b')).status).toBe(200);
    expect(api.seen).toEqual([{ url: '/b', servername: 'edge.example.test', clientCert: undefined }]);
    await m.policy.update([
      serviceEntry(api.port),
      rule({ mode: 'SIMPLE', caCertificates: files['ca.pem'], subjectAltNames: ['billing.example.test'] }),
    ]);
    await expect(m.fetch('http://api.example.test/c')).rejects.toMatchObject({
      code: 'WEFT_ERR_PEER_IDENTITY',
      message: expect.stringContaining('billing.example.test'),
    });
  });

  it('MUTUAL: presents the rule’s client certificate to a server that requires one', async () => {
    const api = await outsideServer(clientCa);
    const m = await mesh({
      service: 'reviews',
      policy: [
        serviceEntry(api.port),
        rule({
          mode: 'MUTUAL',
          caCertificates: files['ca.pem'],
          clientCertificate: files['client.pem'],
          privateKey: files['client-key.pem'],
        }),
      ],
      logger: false,
    });
    const res = await m.fetch('http://api.example.test/orders');
    expect(await res.text()).toBe('secure');
    expect(api.seen).toEqual([
      { url: '/orders', servername: 'api.example.test', clientCert: 'DNS:reviews.example.test' },
    ]);
    // The same server with SIMPLE (no client certificate) refuses the handshake.
    await m.policy.update([serviceEntry(api.port), rule({ mode: 'SIMPLE', caCertificates: files['ca.pem'] })]);
    await expect(m.fetch('http://api.example.test/orders')).rejects.toMatchObject({
      code: expect.stringMatching(/^WEFT_ERR_/),
    });
    expect(api.seen).toHaveLength(1);
  });

  it('originates TLS to a host a ServiceEntry declares without endpoints (resolution NONE), by the rule for that host', async () => {
    const api = await outsideServer();
    const m = await mesh({
      service: 'reviews',
      outboundTrafficPolicy: 'REGISTRY_ONLY',
      policy: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'ServiceEntry',
          metadata: { name: 'by-address' },
          spec: { hosts: ['127.0.0.1'], ports: [{ number: api.port, name: 'http' }], resolution: 'NONE' },
        },
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name: 'by-address' },
          spec: {
            host: '127.0.0.1',
            trafficPolicy: {
              tls: { mode: 'SIMPLE', caCertificates: files['ca.pem'], subjectAltNames: ['api.example.test'] },
            },
          },
        },
      ],
      logger: false,
    });
    const res = await m.fetch(`http://127.0.0.1:${api.port}/by-address`);
    expect(await res.text()).toBe('secure');
    // No SNI for an address, as TLS allows none.
    expect(api.seen).toEqual([{ url: '/by-address', servername: false, clientCert: undefined }]);
  });

  it('says what is wrong: MUTUAL without a client certificate at load, an unreadable file at the call', async () => {
    const api = await outsideServer();
    await expect(
      mesh({
        service: 'reviews',
        policy: [serviceEntry(api.port), rule({ mode: 'MUTUAL', caCertificates: files['ca.pem'] })],
        logger: false,
      }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/WEFT_ERR_POLICY_FIELD_REQUIRED.*trafficPolicy\.tls\.clientCertificate/),
    });
    const m = await mesh({
      service: 'reviews',
      policy: [serviceEntry(api.port), rule({ mode: 'SIMPLE', caCertificates: join(dir, 'missing.pem') })],
      logger: false,
    });
    await expect(m.fetch('http://api.example.test/')).rejects.toMatchObject({
      code: 'WEFT_ERR_TLS_ORIGINATION',
      message: expect.stringMatching(/tls\.caCertificates ".*missing\.pem".*ENOENT/),
    });
    expect(api.seen).toEqual([]);
  });

  it('an https:// call with no rule keeps the TLS of the call: undici’s own, its server name taken from the call’s host', async () => {
    const { cert, key } = await serverCa.issue(['api.example.test']);
    const names: string[] = [];
    const server = createServer({
      cert,
      key,
      // Called with the SNI of each ClientHello, before the client has seen a certificate.
      SNICallback: (name, done) => {
        names.push(name);
        done(null, undefined);
      },
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const m = await mesh({
      service: 'reviews',
      policy: [serviceEntry(port, 'HTTPS')],
      logger: false,
    });
    // The platform's roots do not hold this test CA: the handshake fails on the client's side,
    // after the server has read the name the client asked for.
    await expect(m.fetch('https://api.example.test/v1')).rejects.toMatchObject({
      code: expect.stringMatching(/^WEFT_ERR_/),
    });
    expect(names).toContain('api.example.test');
  });
});
