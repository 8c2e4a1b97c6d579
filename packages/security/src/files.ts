// Credentials an outside issuer writes to files (cert-manager's csi-driver, SPIRE's helper, istio-agent's output): read, and read again when they change.
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { WeftError } from '@weft/core';
import type { CredentialSource, Credentials } from './identity.js';
import { inspectCertificate } from './inspect.js';

export interface CredentialFiles {
  /** The workload's certificate, optionally followed by the CA chain (PEM). */
  certificate: string;
  /** Its private key (PEM). */
  privateKey: string;
  /** The trust bundle: one or more root certificates (PEM). */
  roots: string;
}

/** How long a burst of file events (an issuer writes three files one after another) settles before one reload. */
const SETTLE_MS = 100;

/**
 * Reads credentials from files and watches their directories: a rewrite of any of them
 * (including the rename-into-place that Kubernetes' atomic writer does) leads to one reload.
 * The SPIFFE ID is the certificate's URI SAN; a certificate without one is refused.
 */
export function fileSource(files: CredentialFiles): CredentialSource {
  const read = async (path: string, what: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw new WeftError('WEFT_ERR_CA', `cannot read the ${what} file ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  return {
    name: `files ${files.certificate}`,
    async fetch(): Promise<Credentials> {
      const [chainPem, privateKeyPem, rootsPem] = await Promise.all([
        read(files.certificate, 'certificate'),
        read(files.privateKey, 'private key'),
        read(files.roots, 'trust bundle'),
      ]);
      const [leaf] = inspectCertificate(chainPem);
      const spiffeId = leaf?.spiffeIds[0];
      if (leaf === undefined || spiffeId === undefined) {
        throw new WeftError('WEFT_ERR_SPIFFE_ID', `${files.certificate} carries no SPIFFE ID (no spiffe:// URI SAN)`);
      }
      inspectCertificate(rootsPem);
      return { spiffeId, privateKeyPem, chainPem, rootsPem, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
    },
    watch(changed) {
      const names = new Set([files.certificate, files.privateKey, files.roots].map((f) => basename(f)));
      const dirs = new Set([files.certificate, files.privateKey, files.roots].map((f) => dirname(f)));
      let timer: NodeJS.Timeout | undefined;
      const onEvent = (_event: string, name: string | Buffer | null) => {
        // Kubernetes swaps a "..data" symlink: a change of any entry in the directory may be ours.
        if (name !== null && !names.has(String(name)) && !String(name).startsWith('..')) return;
        clearTimeout(timer);
        timer = setTimeout(changed, SETTLE_MS).unref();
      };
      const watchers: FSWatcher[] = [...dirs].map((dir) => watch(dir, { persistent: false }, onEvent));
      return () => {
        clearTimeout(timer);
        for (const w of watchers) w.close();
      };
    },
  };
}
