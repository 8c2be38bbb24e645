/** The safe text → tree parser, and hostile input on both validation paths. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { XmlSyntaxError, locate, parseTree, serialize } from '../voevent/tree.ts';
import { validate } from '../voevent/validate.ts';
import { xsdValidateText } from '../voevent/xsd.ts';
import { corpus, fixture } from './voevent-helpers.ts';

function syntaxError(input: string | Uint8Array, opts?: Parameters<typeof parseTree>[1]): XmlSyntaxError {
  try {
    parseTree(input, opts);
  } catch (e) {
    if (e instanceof XmlSyntaxError) return e;
    throw e;
  }
  throw new Error('parsed without error');
}

describe('parseTree', () => {
  it('parses every real packet into {name, attrs, children} with the VOEvent root', () => {
    const { dir, files } = corpus();
    for (const f of files) {
      const t = parseTree(fs.readFileSync(path.join(dir, f)));
      expect(t.name.split(':').pop(), f).toBe('VOEvent');
      expect(typeof t.attrs.ivorn, f).toBe('string');
    }
  });

  it('decodes entities, character references and CDATA, and normalises line ends and attribute whitespace', () => {
    const t = parseTree('<?xml version="1.0" encoding="UTF-8"?>\n<a x="1&#9;2\t3&amp;" y=\'"\'><![CDATA[<&>]]>t&lt;&#x41;&#65;\r\n<b/></a>');
    expect(t.attrs).toEqual({ x: '1\t2 3&', y: '"' });
    expect(t.children[0]).toBe('<&>t<AA\n');
    expect(serialize(t)).toBe('<a x="1&#9;2 3&amp;" y="&quot;">&lt;&amp;&gt;t&lt;AA\n<b/></a>');
  });

  it('gives line and column of each element and of syntax errors', () => {
    const xml = '<a>\n  <b>\n    <c/>\n  </b>\n</a>';
    const t = parseTree(xml);
    const b = t.children.find((c) => typeof c !== 'string')!;
    expect(locate(t, b as never)).toEqual({ line: 2, column: 3 });
    const e = syntaxError('<a>\n  <b>\n  </c>\n</a>');
    expect([e.line, e.column]).toEqual([3, 3]);
    expect(e.message).toMatch(/<\/c> does not match <b>/);
  });

  it.each([
    ['<a>', /not closed/],
    ['<a b="1" b="2"/>', /appears twice/],
    ['<a>&nbsp;</a>', /undefined entity &nbsp;/],
    ['<a/><b/>', /one root element/],
    ['text<a/>', /before the root/],
    ['<a b=1/>', /must be quoted/],
    ['<a><!-- x -- y --></a>', /'--'/],
    ['<a b="<"/>', /'<' is not allowed/],
    ['<a>&#0;</a>', /not an allowed XML character/],
    ['<a>\u0001</a>', /U\+0001/],
    ['<a>]]></a>', /']]>'/],
    ['<a><?xml version="1.0"?></a>', /only allowed at the start/],
    ['', /no root element/],
  ])('rejects %j', (xml, re) => {
    expect(syntaxError(xml).message).toMatch(re);
  });

  it('caps the size (default 1 MiB, configurable) before parsing', () => {
    const big = '<a>' + 'x'.repeat(1 << 20) + '</a>';
    expect(syntaxError(big).message).toMatch(/larger than the 1048576-byte limit/);
    expect(syntaxError('<a>éé</a>', { maxBytes: 10 }).message).toMatch(/10-byte limit/);
    expect(parseTree('<a>éé</a>', { maxBytes: 11 }).children).toEqual(['éé']);
    expect(syntaxError(Buffer.from(big)).message).toMatch(/limit/);
  });

  it('caps the nesting depth', () => {
    const deep = '<a>'.repeat(100) + '</a>'.repeat(100);
    expect(syntaxError(deep).message).toMatch(/nested deeper than 64/);
    expect(parseTree(deep, { maxDepth: 200 }).name).toBe('a');
  });

  it('decodes bytes by the declared encoding and rejects others', () => {
    const latin1 = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><a>'), Buffer.from([0xe9]), Buffer.from('</a>')]);
    expect(parseTree(latin1).children).toEqual(['é']);
    expect(syntaxError(Buffer.from('<?xml version="1.0" encoding="EBCDIC"?><a/>')).message).toMatch(/unsupported encoding/);
    expect(syntaxError(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e])).message).toMatch(/not valid UTF-8/);
  });
});

describe('hostile input', () => {
  const secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-xxe-'));
  const secret = path.join(secretDir, 'secret.txt');
  fs.writeFileSync(secret, 'TOP-SECRET-CONTENT');
  const packet = fixture('fourpiskytools__test_packet.xml');
  const xxe = packet
    .replace(/^<\?xml[^>]*\?>\n?/, '')
    .replace(/^/, `<?xml version="1.0"?>\n<!DOCTYPE voe:VOEvent [<!ENTITY xxe SYSTEM "file://${secret}">]>\n`)
    .replace('<Description>', '<Description>&xxe;');
  const laughs =
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n' +
    Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('\n') +
    ']>\n<lolz>&lol9;</lolz>';

  it('rejects an XXE packet at the DOCTYPE, quickly, on every engine', () => {
    expect(xxe).toContain('&xxe;');
    for (const engine of ['fast', 'xsd'] as const) {
      const t0 = performance.now();
      const r = validate(xxe, { engine });
      expect(performance.now() - t0).toBeLessThan(50);
      expect(r.valid).toBe(false);
      expect(r.errors[0]!.message).toMatch(/DOCTYPE declarations are not allowed/);
      expect(r.errors[0]!.line).toBe(2);
      expect(JSON.stringify(r)).not.toContain('TOP-SECRET');
    }
  });

  it('rejects billion laughs quickly', () => {
    const t0 = performance.now();
    const r = validate(laughs);
    expect(performance.now() - t0).toBeLessThan(50);
    expect(r.valid).toBe(false);
    expect(r.errors[0]!.message).toMatch(/DOCTYPE/);
  });

  it('the libxml2 path itself never reads the file nor expands entities, even without the pre-check', () => {
    const t0 = performance.now();
    const issues = xsdValidateText(xxe);
    const laughIssues = xsdValidateText(laughs);
    expect(performance.now() - t0).toBeLessThan(500);
    // libxml2 parsed the internal subset (so the entity was declared) but did not load it.
    expect(issues.some((i) => /DOCTYPE/.test(i.message))).toBe(true);
    expect(issues.every((i) => !/failed to load|I\/O/.test(i.message))).toBe(true);
    expect(laughIssues.length).toBeGreaterThan(0);
    expect(JSON.stringify(issues)).not.toContain('TOP-SECRET');
  });

  it('rejects an oversized packet without parsing it', () => {
    const huge = packet.replace('<Description>', '<Description>' + 'A'.repeat(2 << 20));
    const t0 = performance.now();
    const r = validate(huge);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(r.errors[0]!.message).toMatch(/byte limit/);
    expect(validate(huge, { maxBytes: 4 << 20 }).valid).toBe(true);
  });
});
