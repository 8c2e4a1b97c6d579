// `weft ca`: make a certificate authority, issue a workload certificate from it, read certificates.
import { access, chmod, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isWeftError } from '@weft/core';
import { parseDurationMs, suggest } from '@weft/policy';
import {
  CA_DEFAULTS,
  CA_FILES,
  CA_SERVER_PATH,
  CertificateAuthority,
  type CertificateInfo,
  createWorkloadKey,
  inspectCertificate,
  startCaServer,
  workloadSpiffeId,
} from '@weft/security';

export const CA_HELP = `weft ca: the certificate authority of a weft mesh

Usage:
  weft ca init    --dir DIR [--trust-domain TD] [--validity DURATION]
                  [--parent-cert FILE --parent-key FILE] [--force]
  weft ca issue   --dir DIR (--spiffe-id ID | --namespace NS --service-account SA)
                  [--ttl DURATION] --out PREFIX
  weft ca inspect [--output text|json] FILE...
  weft ca serve   --dir DIR --tokens FILE [--host HOST] [--port PORT]

init     makes a CA in DIR in istiod's layout (ca-cert.pem, ca-key.pem written
         600, cert-chain.pem, root-cert.pem): a self-signed ECDSA P-256 root
         (10 years), or with --parent-cert/--parent-key an intermediate signed
         by your root (1 year). Refuses to replace a CA already in DIR unless
         --force. --trust-domain defaults to cluster.local.
issue    makes a key and a certificate for one workload, as the CA in DIR signs
         it: SPIFFE ID spiffe://TD/ns/NS/sa/SA (or --spiffe-id), life --ttl
         (default 24h, 10s to 90 days). Writes PREFIX-key.pem (600),
         PREFIX-cert.pem (the certificate and the CA chain) and
         PREFIX-roots.pem (the trust bundle).
serve    runs the CA as an HTTPS service (as istiod's CSR service) until
         stopped: a workload POSTs a CSR to /v1/certificates and gets its
         certificate back; its key never leaves it. The first certificate needs
         a bootstrap token from the --tokens file (JSON: { "TOKEN":
         ["spiffe://TD/ns/NS/sa/SA", ...] or "*" }); renewals authenticate with
         the certificate being renewed. HOST defaults to 127.0.0.1, PORT to
         15012 (istiod's).
inspect  prints each certificate of each FILE: SPIFFE IDs, issuer, validity,
         whether it is a CA, and how long until it expires.

DURATION is like 24h, 30m, 90s or 8760h.

Exit status:
  0  done
  1  the CA refused or failed (the reason is printed)
  2  a bad flag or a missing one
`;

class UsageError extends Error {}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  dir: { type: 'string' },
  'trust-domain': { type: 'string' },
  validity: { type: 'string' },
  'parent-cert': { type: 'string' },
  'parent-key': { type: 'string' },
  force: { type: 'boolean' },
  'spiffe-id': { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'service-account': { type: 'string' },
  ttl: { type: 'string' },
  out: { type: 'string' },
  output: { type: 'string', short: 'o', default: 'text' },
  tokens: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '15012' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  cwd?: string;
  /** Ends `weft ca serve`; default: SIGINT or SIGTERM. */
  signal?: AbortSignal;
}

function required(values: Values, name: keyof Values & string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function duration(values: Values, name: 'validity' | 'ttl'): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`--${name} "${text}": expected a duration such as 24h, 30m or 90s`);
  return ms;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function init(values: Values, cwd: string, io: Io): Promise<number> {
  const dir = resolve(cwd, required(values, 'dir'));
  if (!values.force && (await exists(resolve(dir, CA_FILES.privateKey)))) {
    io.stderr.write(
      `weft ca init: ${dir} already holds a CA (${CA_FILES.privateKey}); every certificate it issued chains to it. Use --force to replace it.\n`,
    );
    return 1;
  }
  const parentCert = values['parent-cert'];
  const parentKey = values['parent-key'];
  if ((parentCert === undefined) !== (parentKey === undefined)) {
    throw new UsageError('--parent-cert and --parent-key go together');
  }
  const validityMs = duration(values, 'validity');
  const ca = await CertificateAuthority.create({
    ...(values['trust-domain'] === undefined ? {} : { trustDomain: values['trust-domain'] }),
    ...(validityMs === undefined ? {} : { validityMs }),
    ...(parentCert === undefined || parentKey === undefined
      ? {}
      : {
          parent: {
            certificatePem: await readFile(resolve(cwd, parentCert), 'utf8'),
            privateKeyPem: await readFile(resolve(cwd, parentKey), 'utf8'),
          },
        }),
  });
  await ca.save(dir);
  const [info] = inspectCertificate(ca.certificate.toString('pem'));
  io.stdout.write(
    `made ${parentCert === undefined ? 'a root' : 'an intermediate'} CA for trust domain ${ca.trustDomain} in ${dir}\n` +
      `  ${CA_FILES.certificate}, ${CA_FILES.privateKey} (600), ${CA_FILES.chain}, ${CA_FILES.roots}\n` +
      `  valid until ${info?.notAfter.toISOString()}\n`,
  );
  return 0;
}

async function issue(values: Values, cwd: string, io: Io): Promise<number> {
  const dir = resolve(cwd, required(values, 'dir'));
  const out = resolve(cwd, required(values, 'out'));
  const ttlMs = duration(values, 'ttl') ?? CA_DEFAULTS.workloadTtlMs;
  const ca = await CertificateAuthority.load(dir);
  let spiffeId = values['spiffe-id'];
  if (spiffeId === undefined) {
    if (values.namespace === undefined || values['service-account'] === undefined) {
      throw new UsageError('give --spiffe-id, or --namespace and --service-account');
    }
    spiffeId = workloadSpiffeId(ca.trustDomain, values.namespace, values['service-account']);
  }
  const key = await createWorkloadKey(spiffeId);
  const issued = await ca.sign({ csrPem: key.csrPem, spiffeId, ttlMs });
  await writeFile(`${out}-key.pem`, key.privateKeyPem, { mode: 0o600 });
  await chmod(`${out}-key.pem`, 0o600);
  await writeFile(`${out}-cert.pem`, issued.chainPem);
  await writeFile(`${out}-roots.pem`, issued.rootsPem);
  io.stdout.write(
    `issued ${issued.spiffeId}, valid until ${issued.notAfter.toISOString()}\n` +
      `  ${out}-cert.pem, ${out}-key.pem (600), ${out}-roots.pem\n`,
  );
  return 0;
}

function describeCertificate(info: CertificateInfo): string {
  const left = info.expiresInMs;
  const hours = Math.abs(left) / 3_600_000;
  const when =
    hours >= 48
      ? `${Math.round(hours / 24)} days`
      : hours >= 1
        ? `${hours.toFixed(1)} h`
        : `${Math.round(Math.abs(left) / 1000)} s`;
  return [
    `${info.isCa ? 'CA certificate' : 'certificate'} ${info.serialNumber}`,
    `  SPIFFE ID   ${info.spiffeIds.join(', ') || '(none)'}`,
    `  subject     ${info.subject || '(empty)'}`,
    `  issuer      ${info.issuer}`,
    `  valid       ${info.notBefore.toISOString()} to ${info.notAfter.toISOString()}`,
    `  expires     ${left > 0 ? `in ${when}` : `EXPIRED ${when} ago`}`,
    `  sha256      ${info.fingerprintSha256}`,
    '',
  ].join('\n');
}

async function inspect(values: Values, files: string[], cwd: string, io: Io): Promise<number> {
  if (files.length === 0) throw new UsageError('no FILE given');
  const output = values.output;
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output "${output}": expected text or json`);
  const all: { file: string; certificates: CertificateInfo[] }[] = [];
  for (const file of files) {
    all.push({ file, certificates: inspectCertificate(await readFile(resolve(cwd, file), 'utf8')) });
  }
  if (output === 'json') io.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  else
    for (const { file, certificates } of all)
      io.stdout.write(`${file}\n${certificates.map(describeCertificate).join('')}`);
  return 0;
}

async function serve(values: Values, cwd: string, io: Io): Promise<number> {
  const dir = resolve(cwd, required(values, 'dir'));
  const tokensFile = resolve(cwd, required(values, 'tokens'));
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port "${values.port}": expected 0 to 65535`);
  let tokens: Record<string, readonly string[] | '*'>;
  try {
    tokens = JSON.parse(await readFile(tokensFile, 'utf8')) as Record<string, readonly string[] | '*'>;
  } catch (error) {
    throw new UsageError(
      `--tokens ${tokensFile}: ${(error as Error).message}; expected JSON { "TOKEN": ["spiffe://…"] or "*" }`,
    );
  }
  for (const [token, ids] of Object.entries(tokens)) {
    if (ids !== '*' && !(Array.isArray(ids) && ids.every((id) => typeof id === 'string'))) {
      throw new UsageError(
        `--tokens ${tokensFile}: the token "${token.slice(0, 4)}…" maps to ${JSON.stringify(ids)}; expected a list of SPIFFE IDs or "*"`,
      );
    }
  }
  const ca = await CertificateAuthority.load(dir);
  const server = await startCaServer({
    ca,
    tokens,
    host: values.host as string,
    port,
    onRefused: (reason) => io.stderr.write(`refused: ${reason}\n`),
  });
  io.stdout.write(`weft CA for ${ca.trustDomain} serving on ${server.url}${CA_SERVER_PATH}\n`);
  await new Promise<void>((done) => {
    if (io.signal !== undefined) {
      if (io.signal.aborted) done();
      else io.signal.addEventListener('abort', () => done(), { once: true });
      return;
    }
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  await server.close();
  return 0;
}

const SUBCOMMANDS = ['init', 'issue', 'inspect', 'serve'] as const;

/** Runs `weft ca ARGS...`; resolves with the exit status. */
export async function runCa(args: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? io.stderr : io.stdout).write(CA_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    const near = suggest(sub, [...SUBCOMMANDS]);
    io.stderr.write(
      `weft ca: unknown command "${sub}"${near === undefined ? '' : `; did you mean "${near}"?`}\nRun "weft ca --help" for usage.\n`,
    );
    return 2;
  }
  const cwd = io.cwd ?? process.cwd();
  try {
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError((error as Error).message.split('. ')[0] as string);
    }
    if (parsed.values.help) {
      io.stdout.write(CA_HELP);
      return 0;
    }
    if (sub === 'init') return await init(parsed.values, cwd, io);
    if (sub === 'issue') return await issue(parsed.values, cwd, io);
    if (sub === 'serve') return await serve(parsed.values, cwd, io);
    return await inspect(parsed.values, parsed.positionals, cwd, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`weft ca ${sub}: ${error.message}\nRun "weft ca --help" for usage.\n`);
      return 2;
    }
    const message = isWeftError(error) ? `${error.code}: ${error.message}` : (error as Error).message;
    io.stderr.write(`weft ca ${sub}: ${message}\n`);
    return 1;
  }
}
