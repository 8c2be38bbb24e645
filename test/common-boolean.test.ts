/** common/boolean.ts: xs:boolean as forms and attributes carry it. */
import { describe, expect, it } from 'vitest';
import { parseBoolean } from '../common/boolean.ts';

describe('parseBoolean', () => {
  it('reads 1/true and 0/false, nothing else', () => {
    expect(['1', 'true', '0', 'false'].map(parseBoolean)).toEqual([true, true, false, false]);
    expect(['yes', 'TRUE', '', ' 1', undefined].map(parseBoolean)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});
