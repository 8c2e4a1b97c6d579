// The CA over real TLS: certificates it signs carry the SPIFFE ID, chain to its root, and work in a mutual TLS handshake.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { CA_FILES, CertificateAuthority } from './ca.js';
import { createWorkloadKey } from './csr.js';
import { inspectCertificate } from './inspect.js';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

async function workload(ca: CertificateAuthority, spiffeId: string, ttlMs?: number) {
  const key = await createWorkloadKey(spiffeId);
  const issued = await ca.sign({ csrPem: key.csrPem, spiffeId, ...(ttlMs === undefined ? {} : { ttlMs }) });
  return { ...issued, privateKeyPem: key.privateKeyPem };
}

/** A mutual TLS handshake on loopback: what each side saw of the other, or the error that stopped it. */
async function handshake(
  server: { key: string; cert: string; ca: string },
  client: { key?: string; cert?: string; ca: string },
): Promise<{ serverSawPeer: string | undefined; clientSawPeer: string | undefined } | { error: string }> {
  let serverSawPeer: string | undefined;
  const srv = createServer({ ...server, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (s) => {
    serverSawPeer = s.getPeerX509Certificate()?.subjectAltName;
    s.end('ok');
  });
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  try {
    return await new Promise((resolve) => {
      const socket: TLSSocket = connect({
        host: '127.0.0.1',
        port,
        ...client,
        // Secure naming is checked by SPIFFE ID, not by host name: the handshake test checks the chain.
        checkServerIdentity: () => undefined,
      });
      socket.on('data', () => {
        resolve({ serverSawPeer, clientSawPeer: socket.getPeerX509Certificate()?.subjectAltName });
        socket.destroy();
      });
      socket.on('error', (error) => resolve({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
      // Under TLS 1.3 a refused client certificate can end the connection without an error on the client.
      socket.on('close', () => resolve({ error: 'closed before an answer' }));
    });
  } finally {
    srv.close();
  }
}

describe('certificate authority', () => {
  it('signs a workload CSR into a certificate with the SPIFFE ID as its only URI SAN, chained to the root', async () => {
    const ca = await CertificateAuthority.create();
    const issued = await workload(ca, ID, 3_600_000);
    const [leaf] = inspectCertificate(issued.certificatePem);
    expect(leaf).toMatchObject({ spiffeIds: [ID], isCa: false, subject: '' });
    expect(leaf?.expiresInMs).toBeGreaterThan(3_590_000);
    expect(leaf?.expiresInMs).toBeLessThanOrEqual(3_600_000);
    const root = new X509Certificate(issued.rootsPem);
    expect(new X509Certificate(issued.certificatePem).checkIssued(root)).toBe(true);
    expect(new X509Certificate(issued.certificatePem).verify(root.publicKey)).toBe(true);
  });

  it('gives two workloads certificates that pass a mutual TLS 1.3 handshake, each seeing the other’s SPIFFE ID', async () => {
    const ca = await CertificateAuthority.create({ trustDomain: 'example.org' });
    const server = await workload(ca, 'spiffe://example.org/ns/default/sa/reviews');
    const client = await workload(ca, 'spiffe://example.org/ns/default/sa/productpage');
    const result = await handshake(
      { key: server.privateKeyPem, cert: server.chainPem, ca: server.rootsPem },
      { key: client.privateKeyPem, cert: client.chainPem, ca: client.rootsPem },
    );
    expect(result).toEqual({
      serverSawPeer: 'URI:spiffe://example.org/ns/default/sa/productpage',
      clientSawPeer: 'URI:spiffe://example.org/ns/default/sa/reviews',
    });
  });

  it('works as an intermediate under a user’s root: the chain goes up to the root peers trust', async () => {
    const root = await CertificateAuthority.create({ commonName: 'corporate root' });
    const rootDir = await mkdtemp(join(tmpdir(), 'weft-root-'));
    await root.save(rootDir);
    const intermediate = await CertificateAuthority.create({
      parent: {
        certificatePem: await readFile(join(rootDir, CA_FILES.certificate), 'utf8'),
        privateKeyPem: await readFile(join(rootDir, CA_FILES.privateKey), 'utf8'),
      },
    });
    const server = await workload(intermediate, ID);
    const client = await workload(intermediate, 'spiffe://cluster.local/ns/default/sa/productpage');
    expect(inspectCertificate(server.chainPem).map((c) => c.isCa)).toEqual([false, true, true]);
    // Peers trust only the corporate root; the intermediate travels in each side's chain.
    const result = await handshake(
      { key: server.privateKeyPem, cert: server.chainPem, ca: root.rootsPem },
      { key: client.privateKeyPem, cert: client.chainPem, ca: root.rootsPem },
    );
    expect(result).toMatchObject({ clientSawPeer: `URI:${ID}` });
  });

  it('refuses a peer from another trust domain’s CA and a client without a certificate', async () => {
    const ours = await CertificateAuthority.create();
    const theirs = await CertificateAuthority.create();
    const server = await workload(ours, ID);
    const stranger = await workload(theirs, 'spiffe://cluster.local/ns/default/sa/productpage');
    const refused = await handshake(
      { key: server.privateKeyPem, cert: server.chainPem, ca: server.rootsPem },
      { key: stranger.privateKeyPem, cert: stranger.chainPem, ca: server.rootsPem },
    );
    expect(refused).toHaveProperty('error');
    const anonymous = await handshake(
      { key: server.privateKeyPem, cert: server.chainPem, ca: server.rootsPem },
      { ca: server.rootsPem },
    );
    expect(anonymous).toHaveProperty('error');
  });

  it('trusts several roots at once while one replaces the other', async () => {
    const oldCa = await CertificateAuthority.create();
    const newCa = await CertificateAuthority.create();
    newCa.trustRoot(oldCa.rootsPem);
    const server = await workload(newCa, ID);
    const client = await workload(oldCa, 'spiffe://cluster.local/ns/default/sa/productpage');
    expect(inspectCertificate(newCa.rootsPem)).toHaveLength(2);
    const result = await handshake(
      { key: server.privateKeyPem, cert: server.chainPem, ca: newCa.rootsPem },
      { key: client.privateKeyPem, cert: client.chainPem, ca: newCa.rootsPem },
    );
    expect(result).toMatchObject({ serverSawPeer: 'URI:spiffe://cluster.local/ns/default/sa/productpage' });
  });

  it('writes its key 0600, loads back what it saved, and refuses a key others can read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-ca-'));
    const ca = await CertificateAuthority.create({ trustDomain: 'example.org' });
    await ca.save(dir);
    expect((await stat(join(dir, CA_FILES.privateKey))).mode & 0o777).toBe(0o600);
    const loaded = await CertificateAuthority.load(dir);
    expect(loaded.trustDomain).toBe('example.org');
    const issued = await workload(loaded, 'spiffe://example.org/ns/a/sa/b');
    expect(new X509Certificate(issued.certificatePem).checkIssued(new X509Certificate(ca.rootsPem))).toBe(true);

    await chmod(join(dir, CA_FILES.privateKey), 0o644);
    await expect(CertificateAuthority.load(dir)).rejects.toMatchObject({
      code: 'WEFT_ERR_CA_KEY_PERMISSIONS',
      message: expect.stringContaining('chmod 600'),
    });
    await expect(CertificateAuthority.load(join(dir, 'missing'))).rejects.toMatchObject({
      code: 'WEFT_ERR_CA',
      message: expect.stringContaining('weft ca init'),
    });
  });

  it('refuses requests outside its trust domain, with a bad ID, a bad life or a CSR that is not one', async () => {
    const ca = await CertificateAuthority.create();
    const { csrPem } = await createWorkloadKey(ID);
    await expect(ca.sign({ csrPem, spiffeId: 'spiffe://other.org/ns/a/sa/b' })).rejects.toMatchObject({
      code: 'WEFT_ERR_CA_REQUEST',
      message: expect.stringContaining('outside this CA'),
    });
    await expect(ca.sign({ csrPem, spiffeId: 'spiffe://cluster.local/ns/../sa/b' })).rejects.toMatchObject({
      code: 'WEFT_ERR_SPIFFE_ID',
    });
    await expect(ca.sign({ csrPem, spiffeId: ID, ttlMs: 1_000 })).rejects.toMatchObject({
      code: 'WEFT_ERR_CA_REQUEST',
    });
    await expect(ca.sign({ csrPem: 'not a csr', spiffeId: ID })).rejects.toMatchObject({ code: 'WEFT_ERR_CA_REQUEST' });
  });
});
