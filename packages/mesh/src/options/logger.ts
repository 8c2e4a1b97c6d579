// The mesh's log: pino by default, or the application's own logger; quiet unless something is refused.
import { pino } from 'pino';

/** What weft logs through: pino's shape (an object of fields, then a message). */
export interface Logger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

const noop = (): void => {};
export const SILENT: Logger = { warn: noop, info: noop, debug: noop };

let shared: Logger | undefined;

/** pino on stderr, named `weft`, at `$WEFT_LOG_LEVEL` or `warn`; one for every mesh of the process. */
export function defaultLogger(): Logger {
  shared ??= pino(
    { name: 'weft', level: process.env.WEFT_LOG_LEVEL ?? 'warn' },
    pino.destination({ fd: 2, sync: true }),
  );
  return shared;
}
