// Meshes and upstreams that a test starts are closed after it, whatever happened.
import { createMesh, type Mesh, type MeshOptions } from '@weft/mesh';
import { afterEach } from 'vitest';
import { type Behaviour, startUpstream, type Upstream } from './upstreams.js';

const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** A real upstream server on loopback, closed after the test. */
export async function upstream(name: string, behaviour?: Behaviour): Promise<Upstream> {
  const u = await startUpstream(name, behaviour);
  open.push(u);
  return u;
}

/** A mesh, closed after the test. */
export async function mesh(options: MeshOptions): Promise<Mesh> {
  const m = await createMesh(options);
  open.push(m);
  return m;
}
