// This workload's identity: a SPIFFE ID, and credentials kept fresh from the embedded CA, a CA server or files.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { WeftError } from '@weft/core';
import {
  CertificateAuthority,
  type CredentialSource,
  caServerSource,
  fileSource,
  localCaSource,
  WorkloadIdentity,
  workloadSpiffeId,
} from '@weft/security';

/** Where the embedded CA lives unless told otherwise: shared by every weft process of this user, so they trust each other. */
export function defaultCaDir(): string {
  return process.env.WEFT_CA_DIR ?? join(homedir(), '.weft', 'ca');
}

/** Where a workload's credentials come from (the `security.identity` option). */
export type IdentitySetting =
  | { caDir: string }
  | { ca: CertificateAuthority }
  | { caServer: { url: string; rootsPem: string; token?: string } }
  | { files: { certificate: string; privateKey: string; roots: string } };

export interface IdentityPlan {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  identity: IdentitySetting;
  certificateTtlMs: number;
  renewAtFraction: number;
  onError: (error: WeftError) => void;
}

/**
 * The embedded CA in `dir`: loaded if there, else made and saved. Two processes starting at once
 * both make one in a directory of their own and rename it into place; the loser loads the winner's.
 */
export async function embeddedCa(dir: string, trustDomain: string): Promise<CertificateAuthority> {
  try {
    return await CertificateAuthority.load(dir);
  } catch (error) {
    if ((error as WeftError).code !== 'WEFT_ERR_CA' || !(error as Error).message.startsWith('no CA in')) throw error;
  }
  const ca = await CertificateAuthority.create({ trustDomain });
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  const aside = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await ca.save(aside);
  try {
    await rename(aside, dir);
    return ca;
  } catch {
    await rm(aside, { recursive: true, force: true });
    return CertificateAuthority.load(dir);
  }
}

/** Starts this workload's identity; fails (and the mesh does not start) when no first certificate can be had. */
export async function startIdentity(plan: IdentityPlan): Promise<WorkloadIdentity> {
  const spiffeId = workloadSpiffeId(plan.trustDomain, plan.namespace, plan.serviceAccount);
  const setting = plan.identity;
  let source: CredentialSource;
  if ('files' in setting) source = fileSource(setting.files);
  else if ('caServer' in setting) {
    source = caServerSource({
      url: setting.caServer.url,
      rootsPem: setting.caServer.rootsPem,
      spiffeId,
      ttlMs: plan.certificateTtlMs,
      ...(setting.caServer.token === undefined ? {} : { token: setting.caServer.token }),
    });
  } else {
    const ca = 'ca' in setting ? setting.ca : await embeddedCa(setting.caDir, plan.trustDomain);
    if (ca.trustDomain !== plan.trustDomain) {
      throw new WeftError(
        'WEFT_ERR_CA',
        `the CA is for trust domain "${ca.trustDomain}", but this mesh's is "${plan.trustDomain}": set security.trustDomain to "${ca.trustDomain}" or use a CA of "${plan.trustDomain}"`,
      );
    }
    source = localCaSource(ca, spiffeId, plan.certificateTtlMs);
  }
  return WorkloadIdentity.start(source, { renewAtFraction: plan.renewAtFraction, onError: plan.onError });
}
