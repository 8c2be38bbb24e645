/** common/xml.ts: the same helpers over xmpp.js elements and voevent trees. */
import { describe, expect, it } from 'vitest';
import { xml } from '@xmpp/xml';
import { childElements, firstChild, localName, textOf, trimmedText } from '../common/xml.ts';
import { parseTree } from '../voevent/tree.ts';

describe('XML helpers', () => {
  it('localName drops the prefix', () => {
    expect(localName('voe:VOEvent')).toBe('VOEvent');
    expect(localName('Who')).toBe('Who');
  });

  const trees = {
    'xmpp.js element': xml('voe:VOEvent', { 'xmlns:voe': 'urn:v' }, xml('What', {}, xml('Param', { name: 'a' }), ' ', xml('x:Param', { name: 'b' }), xml('Group')), xml('Why', {}, '  text\n ', xml('b'), 'more ')),
    'voevent tree': parseTree('<voe:VOEvent xmlns:voe="urn:v" xmlns:x="urn:x"><What><Param name="a"/> <x:Param name="b"/><Group/></What><Why>  text\n <b/>more </Why></voe:VOEvent>'),
  };
  for (const [what, root] of Object.entries(trees)) {
    it(`children by local name, text untrimmed or trimmed (${what})`, () => {
      const w = firstChild(root, 'What')!;
      expect(childElements(w).map((c) => c.name)).toEqual(['Param', 'x:Param', 'Group']);
      expect(childElements(w, 'Param').map((c) => c.attrs.name)).toEqual(['a', 'b']);
      expect(firstChild(w, 'Nope')).toBeUndefined();
      expect(firstChild(undefined, 'What')).toBeUndefined();
      const why = firstChild(root, 'Why')!;
      expect(textOf(why)).toBe('  text\n more ');
      expect(trimmedText(why)).toBe('text\n more');
    });
  }
});
