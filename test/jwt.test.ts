// RequestAuthentication over real servers: JWTs verified with a key set served on loopback or read from a file, claims used by AuthorizationPolicy.

import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Mesh, MeshServer } from '@weft/mesh';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mesh } from './support/lifecycle.js';

const ISSUER = 'https://issuer.example';
let keys: Awaited<ReturnType<typeof generateKeyPair>>;
let stranger: Awaited<ReturnType<typeof generateKeyPair>>;
let jwksServer: ReturnType<typeof createServer>;
let jwksUri = '';

beforeAll(async () => {
  keys = await generateKeyPair('ES256');
  stranger = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' };
  jwksServer = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
});
afterAll(() => {
  jwksServer.close();
});

async function token(
  claims: Record<string, unknown> = {},
  options: {
    key?: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
    exp?: string | number;
    aud?: string;
  } = {},
): Promise<string> {
  return new SignJWT({ groups: ['readers'], ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject('alice')
    .setAudience(options.aud ?? 'bookinfo')
    .setIssuedAt()
    .setExpirationTime(options.exp ?? '5m')
    .sign(options.key ?? keys.privateKey);
}

const requestAuthn = (jwtRule: Record<string, unknown>) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'RequestAuthentication',
  metadata: { name: 'jwt' },
  spec: { jwtRules: [{ issuer: ISSUER, audiences: ['bookinfo'], ...jwtRule }] },
});

async function service(policy: Record<string, unknown>[]): Promise<{ m: Mesh; server: MeshServer }> {
  const m = await mesh({ service: 'reviews', policy, logger: false });
  const app = express();
  app.use(m.express());
  app.get(/.*/, (req, res) => {
    res.json({
      principal: req.weft?.jwt?.principal ?? null,
      authorization: req.headers.authorization ?? null,
      payload: req.headers['x-jwt-payload'] ?? null,
    });
  });
  return { m, server: await m.listen(app) };
}

async function get(server: MeshServer, path: string, bearer?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(
    `${server.url}${path}`,
    bearer === undefined ? {} : { headers: { authorization: `Bearer ${bearer}` } },
  );
  return { status: res.status, body: await res.text() };
}

describe('RequestAuthentication', () => {
  it('lets a request without a token through, verifies a good one, strips it, and refuses a bad one with 401', async () => {
    const { m, server } = await service([requestAuthn({ jwksUri, outputPayloadToHeader: 'x-jwt-payload' })]);
    expect(await get(server, '/')).toEqual({
      status: 200,
      body: '{"principal":null,"authorization":null,"payload":null}',
    });

    const good = await get(server, '/', await token());
    expect(good.status).toBe(200);
    const seen = JSON.parse(good.body) as { principal: string; authorization: string | null; payload: string };
    expect(seen.principal).toBe(`${ISSUER}/alice`);
    expect(seen.authorization).toBeNull();
    expect(JSON.parse(Buffer.from(seen.payload, 'base64url').toString())).toMatchObject({
      sub: 'alice',
      groups: ['readers'],
    });

    for (const bad of [
      await token({}, { key: stranger.privateKey }),
      await token({}, { aud: 'another-app' }),
      await token({}, { exp: Math.floor(Date.now() / 1000) - 60 }),
      'not.a.jwt',
    ]) {
      expect(await get(server, '/', bad)).toMatchObject({
        status: 401,
        body: expect.stringContaining('Jwt verification fails'),
      });
    }
    // A token of an issuer no rule names is refused too.
    const other = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('https://elsewhere')
      .sign(keys.privateKey);
    expect((await get(server, '/', other)).status).toBe(401);
    expect(m.stats().security.unauthenticated).toBe(5);
  });

  it('reads a key set from a file and keeps the token when forwardOriginalToken is set; the query parameter works too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-jwks-'));
    const file = join(dir, 'jwks.json');
    await writeFile(
      file,
      JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    );
    const { server } = await service([requestAuthn({ jwksUri: pathToFileURL(file).href, forwardOriginalToken: true })]);
    const t = await token();
    const res = JSON.parse((await get(server, '/', t)).body) as { authorization: string };
    expect(res.authorization).toBe(`Bearer ${t}`);
    expect(JSON.parse((await get(server, `/?access_token=${t}`)).body)).toMatchObject({ principal: `${ISSUER}/alice` });
  });

  it('makes a token mandatory with an AuthorizationPolicy on requestPrincipals, and matches claims', async () => {
    const { server } = await service([
      requestAuthn({ jwksUri }),
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'require-jwt' },
        spec: {
          rules: [
            {
              from: [{ source: { requestPrincipals: [`${ISSUER}/*`] } }],
              when: [{ key: 'request.auth.claims[groups]', values: ['readers'] }],
            },
          ],
        },
      },
    ]);
    expect((await get(server, '/')).status).toBe(403);
    expect((await get(server, '/', await token())).status).toBe(200);
    expect((await get(server, '/', await token({ groups: ['writers'] }))).status).toBe(403);
  });
});
