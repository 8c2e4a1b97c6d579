// Locations read from problem sources, and the caret put under their column.
import { describe, expect, it } from 'vitest';
import { excerpt, parseLocation } from './excerpt.js';

describe('parseLocation', () => {
  it('reads a file, a line and a column', () => {
    expect(parseLocation('/srv/policy/reviews.yaml:12:7')).toEqual({
      file: '/srv/policy/reviews.yaml',
      line: 12,
      column: 7,
    });
  });

  it('keeps colons that belong to the path', () => {
    expect(parseLocation('C:\\policy\\reviews.yaml:3:1')).toEqual({
      file: 'C:\\policy\\reviews.yaml',
      line: 3,
      column: 1,
    });
  });

  it('reads a line without a column', () => {
    expect(parseLocation('reviews.yaml:4')).toEqual({ file: 'reviews.yaml', line: 4 });
  });

  it('finds no location in a bare path or an object path', () => {
    expect(parseLocation('/srv/policy/missing.yaml')).toBeUndefined();
    expect(parseLocation('policy[0]')).toBeUndefined();
  });
});

describe('excerpt', () => {
  const lines = ['spec:', '  hosts: [reviews]', '\t- rout:'];

  it('pads the caret to the column', () => {
    expect(excerpt(lines, { file: 'f', line: 2, column: 3 })).toEqual({
      number: '2',
      text: '  hosts: [reviews]',
      caretPad: '  ',
    });
  });

  it('keeps tabs before the column so the caret lines up', () => {
    expect(excerpt(lines, { file: 'f', line: 3, column: 4 })?.caretPad).toBe('\t  ');
  });

  it('shows the line without a caret when there is no column', () => {
    expect(excerpt(lines, { file: 'f', line: 1 })).toEqual({ number: '1', text: 'spec:' });
  });

  it('shows nothing for a line the file does not have', () => {
    expect(excerpt(lines, { file: 'f', line: 9, column: 1 })).toBeUndefined();
  });
});
