// `weft ca` run in-process against temporary directories: init, issue, inspect, and the mistakes a user makes.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caServerSource } from '@weft/security';
import { describe, expect, it } from 'vitest';
import { run } from './cli.js';

async function weft(args: string[], cwd: string, signal?: AbortSignal, onOut?: (text: string) => void) {
  let stdout = '';
  let stderr = '';
  const status = await run(args, {
    stdout: {
      write: (t: string) => {
        stdout += t;
        onOut?.(t);
      },
    },
    stderr: { write: (t: string) => (stderr += t) },
    cwd,
    ...(signal === undefined ? {} : { signal }),
  });
  return { status, stdout, stderr };
}

describe('weft ca', () => {
  it('makes a CA, issues a workload certificate from it, and inspects it', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'weft-cli-ca-'));
    const made = await weft(['ca', 'init', '--dir', 'ca', '--trust-domain', 'example.org'], cwd);
    expect(made).toMatchObject({ status: 0, stderr: '' });
    expect(made.stdout).toContain('made a root CA for trust domain example.org');
    expect((await stat(join(cwd, 'ca', 'ca-key.pem'))).mode & 0o777).toBe(0o600);

    const issued = await weft(
      ['ca', 'issue', '--dir', 'ca', '-n', 'shop', '--service-account', 'cart', '--ttl', '2h', '--out', 'cart'],
      cwd,
    );
    expect(issued).toMatchObject({ status: 0, stderr: '' });
    expect(issued.stdout).toContain('issued spiffe://example.org/ns/shop/sa/cart');
    expect((await stat(join(cwd, 'cart-key.pem'))).mode & 0o777).toBe(0o600);
    const leaf = new X509Certificate(await readFile(join(cwd, 'cart-cert.pem')));
    expect(leaf.checkIssued(new X509Certificate(await readFile(join(cwd, 'cart-roots.pem'))))).toBe(true);

    const text = await weft(['ca', 'inspect', 'cart-cert.pem'], cwd);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/SPIFFE ID\s+spiffe:\/\/example.org\/ns\/shop\/sa\/cart/);
    expect(text.stdout).toMatch(/expires\s+in (1\.9|2\.0) h/);
    expect(text.stdout).toContain('CA certificate');
    const json = await weft(['ca', 'inspect', '-o', 'json', 'cart-cert.pem'], cwd);
    const [file] = JSON.parse(json.stdout) as { certificates: { spiffeIds: string[]; isCa: boolean }[] }[];
    expect(file?.certificates.map((c) => c.isCa)).toEqual([false, true]);
  });

  it('refuses to replace a CA unless told to, and says why', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'weft-cli-ca-'));
    await weft(['ca', 'init', '--dir', 'ca'], cwd);
    const again = await weft(['ca', 'init', '--dir', 'ca'], cwd);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('already holds a CA');
    expect((await weft(['ca', 'init', '--dir', 'ca', '--force'], cwd)).status).toBe(0);
  });

  it('reports usage mistakes with exit 2 and CA refusals with exit 1', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'weft-cli-ca-'));
    expect(await weft(['ca', 'isue'], cwd)).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('did you mean "issue"'),
    });
    expect(await weft(['ca', 'init'], cwd)).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('--dir is required'),
    });
    expect(
      await weft(['ca', 'issue', '--dir', 'nowhere', '--out', 'x', '--spiffe-id', 'spiffe://cluster.local/a'], cwd),
    ).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('weft ca init --dir'),
    });
    await weft(['ca', 'init', '--dir', 'ca'], cwd);
    expect(
      await weft(['ca', 'issue', '--dir', 'ca', '--out', 'x', '--spiffe-id', 'spiffe://other.org/a'], cwd),
    ).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('WEFT_ERR_CA_REQUEST'),
    });
    expect(
      await weft(
        ['ca', 'issue', '--dir', 'ca', '--out', 'x', '--ttl', 'soon', '--spiffe-id', 'spiffe://cluster.local/a'],
        cwd,
      ),
    ).toMatchObject({
      status: 2,
    });
  });

  it('serves the CA over HTTPS until stopped: a workload with a token gets its certificate', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'weft-cli-ca-'));
    await weft(['ca', 'init', '--dir', 'ca'], cwd);
    const id = 'spiffe://cluster.local/ns/default/sa/reviews';
    await writeFile(join(cwd, 'tokens.json'), JSON.stringify({ 'boot-123': [id] }));
    const stop = new AbortController();
    let url = '';
    const serving = weft(
      ['ca', 'serve', '--dir', 'ca', '--tokens', 'tokens.json', '--port', '0'],
      cwd,
      stop.signal,
      (t) => {
        url = /serving on (\S+)\/v1/.exec(t)?.[1] ?? url;
      },
    );
    const end = Date.now() + 5_000;
    while (url === '' && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    const roots = await readFile(join(cwd, 'ca', 'root-cert.pem'), 'utf8');
    const credentials = await caServerSource({ url, rootsPem: roots, spiffeId: id, token: 'boot-123' }).fetch();
    expect(credentials.spiffeId).toBe(id);
    stop.abort();
    expect((await serving).status).toBe(0);
  });
});
