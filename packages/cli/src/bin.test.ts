// The built executable, spawned as a user runs it (build first: tsc -b tsconfig.build.json).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

function weft(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
}

describe('dist/bin.js', () => {
  it('prints the help and exits 0 with --help', () => {
    const { status, stdout } = weft('--help');
    expect(stdout).toContain('Usage:');
    expect(status).toBe(0);
  });

  it('sets the exit status of the process from the run', () => {
    const { status, stderr } = weft('validate');
    expect(stderr).toContain('no PATH given');
    expect(status).toBe(2);
  });
});
