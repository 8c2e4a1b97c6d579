// docs/errors.md and the table of codes in @weft/core stay in step, both ways.

import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '@weft/mesh';
import { describe, expect, it } from 'vitest';

const page = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const documented = [...page.matchAll(/^### (WEFT_(?:ERR|WARN|ANALYZE)_[A-Z0-9_]+)$/gm)].map((m) => m[1] as string);

describe('docs/errors.md', () => {
  it('documents every error code', () => {
    expect(Object.keys(ERROR_CODES).filter((code) => !documented.includes(code))).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    expect(documented.filter((code) => !(code in ERROR_CODES))).toEqual([]);
  });

  it('says when each code happens and how to fix it', () => {
    for (const section of page.split(/^### /m).slice(1)) {
      expect(section, section.split('\n')[0]).toMatch(/\*\*When:\*\*/);
      expect(section, section.split('\n')[0]).toMatch(/\*\*Fix:\*\*/);
    }
  });
});
