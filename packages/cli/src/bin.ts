#!/usr/bin/env node
// The `weft` executable: runs the command line against this process's streams and sets its exit status.
import { run } from './cli.js';

// A reader that goes away early (`weft analyze … | head`) is not a failure of the check.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
