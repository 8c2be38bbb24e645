/**
 * The broker and the agents validate with the fast tree validator: importing
 * voevent/ (and the broker) must not load the native libxmljs2 addon, which only
 * the XSD engine (CLI --xsd, the agreement test) needs.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Run `body` (ES module code) under tsx in a fresh process; prints whether libxmljs2 was loaded. */
function loadsLibxml(body: string): boolean {
  const code = `${body}
import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
console.log(Object.keys(cache).some((k) => k.includes('libxmljs2')) ? 'loaded' : 'not loaded');`;
  const out = execFileSync('node', ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });
  return out.trim().endsWith('loaded') && !out.trim().endsWith('not loaded');
}

const PACKET = `<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://x.y/z#1" role="test" version="2.0"><Who><Date>2026-01-01T00:00:00</Date></Who></voe:VOEvent>`;

describe('libxmljs2 is loaded only for the XSD engine', () => {
  it('not by importing voevent/ and the broker, nor by fast validation', () => {
    expect(loadsLibxml(`
      const v = await import('./voevent/index.ts');
      await import('./broker-component/broker.ts');
      await import('./agents/lib/index.ts');
      if (!v.validate(${JSON.stringify(PACKET)}).valid) throw new Error('expected valid');`)).toBe(false);
  });

  it('by the XSD engine, on first use', () => {
    expect(loadsLibxml(`
      const v = await import('./voevent/index.ts');
      if (!v.validate(${JSON.stringify(PACKET)}, { engine: 'xsd' }).valid) throw new Error('expected valid');`)).toBe(true);
  });
});
