// undici's table of header names it knows, taught the names weft's own layers write on calls.
import { createRequire } from 'node:module';

/** A header name as RFC 9110 allows it (a token), in lower case: the only names this module adds. */
const LOWER_CASE_TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * Adds `names` to undici's table of header names it knows (`headerNameLowerCasedRecord`, which maps
 * a name to its lower case), so that undici takes its fast path for them. For a name it does not
 * know, undici lower-cases the name and checks that it is a token on every request: about 110 ns
 * for `x-request-id` and `traceparent` together (measured), where a name it knows costs one table
 * read. The names weft writes are constants, already lower case and valid tokens, so the checks
 * can never fail for them: undici's result is the same, only faster. Each name is checked here
 * once before it is added, and a name undici already knows is left as it is.
 *
 * This reads a module inside undici (its package has no `exports` map that hides it); no public
 * API reaches the table. If a later undici moves it, nothing is added and every request takes the
 * slow path again, as before: the function reports how many names it added, and a test
 * (header-names.test.ts) fails when undici no longer has the table, so an upgrade shows it.
 * Returns the number of names added.
 */
export function teachUndiciHeaderNames(names: Iterable<string>): number {
  const table = undiciHeaderTable();
  return table === undefined ? 0 : addHeaderNames(table, names);
}

/** Adds each of `names` that is a lower-case token and not in `table` yet; a table that cannot take more (frozen) is left alone. */
export function addHeaderNames(table: Record<string, string | undefined>, names: Iterable<string>): number {
  if (!Object.isExtensible(table)) return 0;
  let added = 0;
  for (const name of names) {
    if (table[name] !== undefined || !LOWER_CASE_TOKEN.test(name)) continue;
    table[name] = name;
    added++;
  }
  return added;
}

/** undici's table, when the undici this package loads has one where undici 7 keeps it. */
export function undiciHeaderTable(): Record<string, string | undefined> | undefined {
  try {
    // The same module instance undici's own Request reads: Node caches a module by its resolved file.
    const constants = createRequire(import.meta.url)('undici/lib/core/constants.js') as {
      headerNameLowerCasedRecord?: unknown;
    };
    const table = constants.headerNameLowerCasedRecord;
    return typeof table === 'object' && table !== null ? (table as Record<string, string | undefined>) : undefined;
  } catch {
    return undefined;
  }
}
