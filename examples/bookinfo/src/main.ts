// The command line: starts Bookinfo, drives load at productpage, prints the summary, and exits 0 only if nothing failed.
import { parseArgs } from 'node:util';
import { type Bookinfo, startBookinfo } from './bookinfo.js';
import { drive } from './drive.js';
import { formatSummary, summarize } from './summary.js';

const USAGE = `usage: node examples/bookinfo/dist/main.js [--requests N] [--concurrency C] [--keep-running]

  --requests N       requests to send to productpage (default 300; 0 sends none)
  --concurrency C    requests in flight at once (default 8)
  --keep-running     after the summary, print every service's URL and run until SIGINT or SIGTERM
  --help             print this and exit`;

interface Cli {
  requests: number;
  concurrency: number;
  keepRunning: boolean;
}

/** The command line as options, or a sentence saying what is wrong with it. */
function parseCli(argv: string[]): Cli | 'help' | string {
  let values: { requests?: string; concurrency?: string; 'keep-running'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        requests: { type: 'string' },
        concurrency: { type: 'string' },
        'keep-running': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help === true) return 'help';
  const whole = (name: string, text: string | undefined, fallback: number, min: number): number | string => {
    if (text === undefined) return fallback;
    if (!/^[0-9]+$/.test(text) || Number(text) < min) return `--${name} takes a whole number ≥ ${min}; got "${text}"`;
    return Number(text);
  };
  const requests = whole('requests', values.requests, 300, 0);
  if (typeof requests === 'string') return requests;
  const concurrency = whole('concurrency', values.concurrency, 8, 1);
  if (typeof concurrency === 'string') return concurrency;
  return { requests, concurrency, keepRunning: values['keep-running'] === true };
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function printUrls(bookinfo: Bookinfo): void {
  const width = Math.max(...bookinfo.instances.map((i) => `${i.service} ${i.version}`.length));
  console.log('\nBookinfo is running:');
  for (const i of bookinfo.instances) console.log(`  ${`${i.service} ${i.version}`.padEnd(width)}  ${i.url}`);
  console.log(`\nTry: curl ${bookinfo.productpageUrl}\nPress Ctrl-C to stop.`);
}

async function main(argv: string[]): Promise<number> {
  const cli = parseCli(argv);
  if (cli === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (typeof cli === 'string') {
    console.error(`${cli}\n\n${USAGE}`);
    return 2;
  }
  const bookinfo = await startBookinfo();
  try {
    let failed = 0;
    if (cli.requests > 0) {
      const result = await drive(bookinfo.productpageUrl, { requests: cli.requests, concurrency: cli.concurrency });
      const summary = summarize(bookinfo, result);
      console.log(formatSummary(summary));
      failed = summary.failed;
    } else {
      console.log('Bookinfo started; no load sent (--requests 0).');
    }
    if (cli.keepRunning) {
      printUrls(bookinfo);
      const signal = await untilSignal();
      console.log(`\n${signal}: closing Bookinfo`);
    }
    return failed === 0 ? 0 : 1;
  } finally {
    await bookinfo.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
