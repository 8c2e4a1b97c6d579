// Renewal of a workload's credentials: on schedule, after failures, and from files an outside issuer rewrites.
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from './ca.js';
import { fileSource } from './files.js';
import { type Credentials, localCaSource, WorkloadIdentity } from './identity.js';
import { inspectCertificate } from './inspect.js';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';
const started: WorkloadIdentity[] = [];
afterEach(() => {
  for (const identity of started.splice(0)) identity.close();
});

async function until(predicate: () => boolean, limitMs = 5_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const serial = (c: Credentials) => inspectCertificate(c.chainPem)[0]?.serialNumber;

describe('workload identity', () => {
  it('renews before expiry with a new key and certificate, and tells its listeners', async () => {
    const ca = await CertificateAuthority.create();
    const identity = await WorkloadIdentity.start(localCaSource(ca, ID, 10_000), { renewAtFraction: 0.1 });
    started.push(identity);
    const first = identity.current;
    const seen: Credentials[] = [];
    identity.onRenew((c) => seen.push(c));
    await until(() => seen.length >= 2);
    expect(new Set([first, ...seen].map(serial)).size).toBe(3);
    expect(new Set([first, ...seen].map((c) => c.privateKeyPem)).size).toBe(3);
    expect(identity.current).toBe(seen.at(-1));
    expect(identity.current.spiffeId).toBe(ID);
    expect(identity.current.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
  });

  it('keeps the current credentials while renewal fails, and retries with backoff until it works', async () => {
    const ca = await CertificateAuthority.create();
    const real = localCaSource(ca, ID, 10_000);
    let failuresLeft = 0;
    const flaky = {
      name: 'flaky CA',
      fetch: () => (failuresLeft-- > 0 ? Promise.reject(new Error('CA unreachable')) : real.fetch()),
    };
    const errors: string[] = [];
    const identity = await WorkloadIdentity.start(flaky, { retryMs: 20, onError: (e) => errors.push(e.message) });
    started.push(identity);
    const first = identity.current;
    failuresLeft = 2;
    const renewing = identity.renew();
    await renewing;
    expect(identity.current).toBe(first);
    await until(() => identity.renewals.done === 1);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(
      /flaky CA failed \(attempt 1\); the current certificate .* stays in use, next try in 20 ms/,
    );
    expect(errors[1]).toContain('next try in 40 ms');
    expect(serial(identity.current)).not.toBe(serial(first));
  });

  it('reads credentials from files and reloads them when an outside issuer rewrites them', async () => {
    const ca = await CertificateAuthority.create();
    const dir = await mkdtemp(join(tmpdir(), 'weft-certs-'));
    const files = { certificate: join(dir, 'cert.pem'), privateKey: join(dir, 'key.pem'), roots: join(dir, 'ca.pem') };
    const write = async (c: Credentials) => {
      await writeFile(files.privateKey, c.privateKeyPem, { mode: 0o600 });
      await writeFile(files.roots, c.rootsPem);
      // Written aside and renamed into place, as atomic writers do.
      await writeFile(`${files.certificate}.tmp`, c.chainPem);
      await rename(`${files.certificate}.tmp`, files.certificate);
    };
    const issuer = localCaSource(ca, ID, 3_600_000);
    await write(await issuer.fetch());
    const identity = await WorkloadIdentity.start(fileSource(files));
    started.push(identity);
    expect(identity.current.spiffeId).toBe(ID);
    const before = serial(identity.current);
    const next = await issuer.fetch();
    await write(next);
    await until(() => serial(identity.current) === serial(next));
    expect(serial(identity.current)).not.toBe(before);
    expect(identity.current.privateKeyPem).toBe(next.privateKeyPem);
  });

  it('refuses files that are missing or carry no SPIFFE ID, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-certs-'));
    const files = { certificate: join(dir, 'cert.pem'), privateKey: join(dir, 'key.pem'), roots: join(dir, 'ca.pem') };
    await expect(WorkloadIdentity.start(fileSource(files))).rejects.toMatchObject({
      code: 'WEFT_ERR_CA',
      message: expect.stringContaining(files.certificate),
    });
    const ca = await CertificateAuthority.create();
    await writeFile(files.certificate, ca.rootsPem);
    await writeFile(files.privateKey, 'x');
    await writeFile(files.roots, ca.rootsPem);
    await expect(WorkloadIdentity.start(fileSource(files))).rejects.toMatchObject({ code: 'WEFT_ERR_SPIFFE_ID' });
  });
});
