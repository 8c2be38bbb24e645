/** common/duration.ts: one grammar for every configuration file and command line. */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { DurationError, durationSchema, parseDuration } from '../common/duration.ts';

describe('parseDuration', () => {
  it('reads every unit; a bare number (or number string) is seconds', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('5min')).toBe(300_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration(' 90 s ')).toBe(90_000);
    expect(parseDuration('2')).toBe(2000);
    expect(parseDuration(1.5)).toBe(1500);
  });

  it('refuses other text and, unless asked, negatives, naming what was read', () => {
    expect(() => parseDuration('soon', { what: '--interval' })).toThrow(DurationError);
    expect(() => parseDuration('soon', { what: '--interval' })).toThrow("--interval 'soon' is not a duration like 500ms, 90s, 5m, 12h, 1d");
    expect(() => parseDuration('5 weeks')).toThrow(/not a duration/);
    expect(() => parseDuration('-1h')).toThrow(/must not be negative/);
    expect(() => parseDuration(-3)).toThrow(/must not be negative/);
    expect(parseDuration('-1h', { negative: true })).toBe(-3_600_000);
    expect(parseDuration(-3, { negative: true })).toBe(-3000);
  });

  it('the JSON schema accepts exactly what parseDuration accepts', () => {
    const ajv = new Ajv({ allowUnionTypes: true, strict: false });
    const plain = ajv.compile(durationSchema());
    const signed = ajv.compile(durationSchema({ negative: true }));
    for (const v of ['250ms', '1.5s', '5m', '5min', '2h', '1d', '2', 3, 0])
      expect([plain(v), signed(v)], String(v)).toEqual([true, true]);
    for (const v of ['-1h', -1]) expect([plain(v), signed(v)], String(v)).toEqual([false, true]);
    for (const v of ['soon', '1 week', '', true]) expect([plain(v), signed(v)], String(v)).toEqual([false, false]);
  });
});
