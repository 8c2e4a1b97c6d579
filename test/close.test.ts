// mesh.close(): drains what is in flight, refuses what comes after, and leaves no handle open.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createMesh } from '@weft/mesh';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { startUpstream } from './support/upstreams.js';

describe('mesh.close', () => {
  it('leaves no open handles: a process that closes its mesh exits by itself', () => {
    const script = fileURLToPath(new URL('./fixtures/close-leaves-nothing.mjs', import.meta.url));
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 15_000 });
    expect(run.error, 'the process did not exit by itself within 15 s').toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1) as string);
    expect(report.bodies).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(report.after).toBe('WEFT_ERR_CLOSED');
    expect(report.resources.filter((r: string) => !['PipeWrap', 'TTYWrap'].includes(r))).toEqual([]);
  });

  it('lets a call in flight on its server finish before closing', async () => {
    const mesh = await createMesh({ service: 'reviews' });
    const app = express();
    app.use(mesh.express());
    app.get('/slow', (_req, res) => {
      setTimeout(() => res.send('finished'), 150);
    });
    const server = await mesh.listen(app);
    const pending = fetch(`${server.url}/slow`).then((r) => r.text());
    await new Promise((resolve) => setTimeout(resolve, 30));
    await mesh.close();
    expect(await pending).toBe('finished');
    await expect(fetch(`${server.url}/slow`)).rejects.toThrow();
  });

  it('cuts calls still running after drainTimeoutMs', async () => {
    const mesh = await createMesh({ service: 'reviews', drainTimeoutMs: 50 });
    const app = express();
    app.get('/never', () => {});
    const server = await mesh.listen(app);
    const pending = fetch(`${server.url}/never`).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const started = Date.now();
    await mesh.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await pending).toBeInstanceOf(Error);
  });

  it('refuses calls made after close with WEFT_ERR_CLOSED', async () => {
    const upstream = await startUpstream('u');
    const mesh = await createMesh({ service: 'productpage', discovery: { static: { details: [upstream.address] } } });
    await mesh.close();
    await expect(mesh.axios('details').get('/')).rejects.toMatchObject({ code: 'WEFT_ERR_CLOSED' });
    await expect(mesh.fetch('http://details/')).rejects.toMatchObject({ code: 'WEFT_ERR_CLOSED' });
    expect(upstream.seen).toHaveLength(0);
    await upstream.close();
  });
});
