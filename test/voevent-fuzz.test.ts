/**
 * Property tests of the VOEvent parser and validators on hostile input (fast-check),
 * seeded with the real packets of test/fixtures/voevents: whatever the bytes,
 *  - validate() never throws: every problem is an issue;
 *  - the tree parser throws nothing but XmlSyntaxError, and never expands an entity
 *    or reads a DTD;
 *  - a packet the fast validator calls valid is valid for libxml2 with our XSD (itself
 *    proven equal to the official schema in voevent-agreement.test.ts).
 * CI runs a bounded number of cases (VOXNET_FUZZ_RUNS raises it); bench/fuzz-voevent.ts
 * runs long campaigns and reports the slowest input.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { validate } from '../voevent/validate.ts';
import { parseTree, XmlSyntaxError, DEFAULT_MAX_BYTES } from '../voevent/tree.ts';
import { fastValidateTree } from '../voevent/fast-validate.ts';
import { xsdIsValid } from '../voevent/xsd.ts';
import { FIXTURES, xmlFiles } from './voevent-helpers.ts';
import { largeHostilePackets, mutatedPackets } from './voevent-fuzz-ops.ts';

const RUNS = Number(process.env.VOXNET_FUZZ_RUNS ?? 400);
const SEED = Number(process.env.VOXNET_FUZZ_SEED ?? 20261206);
const packets = xmlFiles(FIXTURES).map((f) => fs.readFileSync(path.join(FIXTURES, f)));

const mutated = mutatedPackets(packets);

function fastValid(bytes: Uint8Array): boolean {
  try {
    return fastValidateTree(parseTree(bytes)).length === 0;
  } catch (e) {
    if (e instanceof XmlSyntaxError) return false;
    throw e;
  }
}

describe('VOEvent parsing and validation on hostile input', () => {
  it('has a corpus of real packets to mutate', () => {
    expect(packets.length).toBeGreaterThanOrEqual(40);
  });

  it('validate() never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        const r = validate(bytes);
        expect(typeof r.valid).toBe('boolean');
        if (!r.valid) expect(r.errors.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('the tree parser throws only XmlSyntaxError and never expands entities or reads a DTD', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        let tree;
        try {
          tree = parseTree(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(XmlSyntaxError);
          return;
        }
        // Accepted: then no DOCTYPE was in it and no entity text leaked into the tree.
        const text = Buffer.from(bytes).toString('latin1');
        expect(/<!DOCTYPE/i.test(text.replace(/<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->/g, ''))).toBe(false);
        expect(JSON.stringify(tree)).not.toContain('aaaaaaaaaa');
      }),
      { numRuns: RUNS, seed: SEED + 1 },
    );
  });

  it('never calls valid a packet that libxml2 with the VOEvent schema refuses', () => {
    let valid = 0;
    fc.assert(
      fc.property(mutated, (bytes) => {
        if (!fastValid(bytes)) return;
        valid++;
        expect(xsdIsValid(Buffer.from(bytes).toString('utf8'))).toBe(true);
      }),
      { numRuns: RUNS, seed: SEED + 2 },
    );
    // Some mutations keep packets valid (a byte inside a text value, say): the oracle is exercised.
    expect(valid).toBeGreaterThan(0);
  });

  it('found by fuzzing: a packet at the size limit with a finding per element is validated in one pass (at most 100 findings of a kind, positions right)', () => {
    const packet = fs.readFileSync(path.join(FIXTURES, xmlFiles(FIXTURES)[0]!), 'utf8');
    for (const { name, bytes } of largeHostilePackets(packet, DEFAULT_MAX_BYTES)) {
      expect(bytes.length, name).toBeLessThanOrEqual(DEFAULT_MAX_BYTES);
      const r = validate(bytes);
      expect(r.errors.length + r.warnings.length, name).toBeLessThanOrEqual(200);
      if (name === 'duplicate Params' || name === 'mistyped Params') expect(r.errors.length + r.warnings.length, name).toBeGreaterThan(0);
      if (name === 'duplicate Params') expect(r.valid).toBe(false);
      if (name === 'Params one per line') {
        // Each Param on its own line: the nth duplicate is reported on its own line.
        const dup = r.errors.find((e) => e.message.startsWith('duplicate Param name'))!;
        const text = bytes.toString('utf8');
        const at = text.split('\n').findIndex((l, i) => i + 1 === dup.line);
        expect(at).toBeGreaterThan(0);
        expect(text.split('\n')[dup.line - 1]!.slice(dup.column - 1)).toMatch(/^name="p"/);
      }
    }
  });

  it('found by fuzzing: a character that JavaScript counts as space but XML does not (U+FEFF, U+00A0) breaks the XML declaration', () => {
    const good = packets.find((p) => p.toString('utf8').startsWith('<?xml version='))!.toString('utf8');
    expect(validate(good).valid).toBe(true);
    const bads = [good.replace('<?xml version', '<?xml \uFEFFversion'), good.replace(/^<\?xml version=(["'])1\.0\1/, (m) => `${m}\u00A0`)];
    expect(bads.every((b) => b !== good)).toBe(true);
    for (const bad of bads) {
      const r = validate(bad);
      expect(r.valid).toBe(false);
      expect(r.errors[0]!.message).toMatch(/malformed XML declaration/);
      expect(xsdIsValid(bad)).toBe(false);
    }
  });

  it('refuses input over the size limit before parsing it', () => {
    const huge = Buffer.concat([packets[0]!, Buffer.alloc(DEFAULT_MAX_BYTES, 0x20)]);
    const r = validate(huge);
    expect(r.valid).toBe(false);
    expect(r.errors[0]!.message).toMatch(/larger than the \d+-byte limit/);
  });

  it('arbitrary strings of XML punctuation never crash the parser', () => {
    const alphabet = fc.constantFrom('<', '>', '/', '=', '"', "'", '&', ';', '!', '?', '[', ']', '-', 'a', 'x', ':', ' ', '\n', '#', 'V', 'O', 'E');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 300 }).map((a) => a.join('')), (s) => {
        expect(() => validate(s)).not.toThrow();
      }),
      { numRuns: RUNS, seed: SEED + 3 },
    );
  });
});
