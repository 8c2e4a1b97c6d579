// Test runner settings: unit tests beside the code, end-to-end tests in test/.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default'],
    // Meshes with security on and no CA of their own use the embedded one: keep it out of the home directory.
    env: { WEFT_CA_DIR: join(tmpdir(), 'weft-vitest-ca') },
  },
});
