// The CA server over real HTTPS on loopback: tokens for the first certificate, the certificate itself for renewals, refusals with reasons.
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from './ca.js';
import { caServerSource, type RunningCaServer, startCaServer } from './ca-server.js';
import { WorkloadIdentity } from './identity.js';
import { inspectCertificate } from './inspect.js';

const REVIEWS = 'spiffe://cluster.local/ns/default/sa/reviews';
const RATINGS = 'spiffe://cluster.local/ns/default/sa/ratings';
const running: { close(): unknown }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function serve(ca: CertificateAuthority, tokens?: Record<string, readonly string[] | '*'>) {
  const refused: string[] = [];
  const server: RunningCaServer = await startCaServer({
    ca,
    ...(tokens === undefined ? {} : { tokens }),
    onRefused: (r) => refused.push(r),
  });
  running.push(server);
  return { server, refused };
}

describe('CA server', () => {
  it('signs a CSR for the ID a bootstrap token allows; the key never leaves the workload', async () => {
    const ca = await CertificateAuthority.create();
    const { server } = await serve(ca, { 'reviews-token': [REVIEWS] });
    const source = caServerSource({
      url: server.url,
      rootsPem: ca.rootsPem,
      spiffeId: REVIEWS,
      token: 'reviews-token',
      ttlMs: 3_600_000,
    });
    const credentials = await source.fetch();
    expect(inspectCertificate(credentials.chainPem)[0]).toMatchObject({ spiffeIds: [REVIEWS], isCa: false });
    expect(credentials.rootsPem).toBe(ca.rootsPem);
  });

  it('renews with the current certificate, no token needed, for the same ID only', async () => {
    const ca = await CertificateAuthority.create();
    const { server, refused } = await serve(ca, { once: [REVIEWS] });
    const identity = await WorkloadIdentity.start(
      caServerSource({ url: server.url, rootsPem: ca.rootsPem, spiffeId: REVIEWS, token: 'once', ttlMs: 60_000 }),
    );
    running.push(identity);
    const first = inspectCertificate(identity.current.chainPem)[0]?.serialNumber;
    await identity.renew();
    expect(inspectCertificate(identity.current.chainPem)[0]?.serialNumber).not.toBe(first);
    expect(refused).toEqual([]);

    // A reviews certificate does not get a ratings one.
    const { createWorkloadKey } = await import('./csr.js');
    const key = await createWorkloadKey(RATINGS);
    const res = await fetchWithCert(server.url, key.csrPem, identity.current, ca.rootsPem);
    expect(res.status).toBe(403);
    expect(refused.at(-1)).toContain(`${RATINGS} was refused: the client certificate (${REVIEWS}) does not allow it`);
  });

  it('refuses a wrong token, no credentials at all, and a body that is not a CSR, saying why', async () => {
    const ca = await CertificateAuthority.create();
    const { server, refused } = await serve(ca, { right: [REVIEWS] });
    await expect(
      caServerSource({ url: server.url, rootsPem: ca.rootsPem, spiffeId: REVIEWS, token: 'wrong' }).fetch(),
    ).rejects.toMatchObject({
      code: 'WEFT_ERR_CA_REQUEST',
      message: expect.stringContaining('no valid token or client certificate'),
    });
    await expect(
      caServerSource({ url: server.url, rootsPem: ca.rootsPem, spiffeId: RATINGS, token: 'right' }).fetch(),
    ).rejects.toMatchObject({ message: expect.stringContaining('the token does not allow it') });
    const res = await fetchWithCert(server.url, 'not a csr', undefined, ca.rootsPem);
    expect(res.status).toBe(400);
    expect(refused).toHaveLength(3);
  });

  it('is checked by its SPIFFE ID: a client talking to a server of another CA fails before sending', async () => {
    const ca = await CertificateAuthority.create();
    const other = await CertificateAuthority.create();
    const { server } = await serve(other, { t: '*' });
    await expect(
      caServerSource({ url: server.url, rootsPem: ca.rootsPem, spiffeId: REVIEWS, token: 't' }).fetch(),
    ).rejects.toMatchObject({ code: 'WEFT_ERR_CA', message: expect.stringContaining('cannot reach the CA server') });
  });
});

/** A raw POST, to send what a well-behaved source would not. */
async function fetchWithCert(
  url: string,
  csr: string,
  credentials: { privateKeyPem: string; chainPem: string } | undefined,
  rootsPem: string,
): Promise<{ status: number }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(
      new URL('/v1/certificates', url),
      {
        method: 'POST',
        ca: rootsPem,
        ...(credentials === undefined ? {} : { key: credentials.privateKeyPem, cert: credentials.chainPem }),
        checkServerIdentity: () => undefined,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ csr }));
  });
}
