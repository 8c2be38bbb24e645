/** Stored payloads must mean the same XML on their own as inside the stanza they came in. */
import { describe, it, expect } from 'vitest';
import { standaloneXml } from '../common/xml-standalone.ts';
import { parseXml } from './helpers/pubsub.ts';

async function payloadOf(stanza: string) {
  const root = await parseXml(stanza);
  return root.getChild('item')!.getChildElements()[0]!;
}

describe('standaloneXml', () => {
  it('copies the inherited default namespace, even when a descendant redeclares its own', async () => {
    const p = await payloadOf('<publish xmlns="urn:p"><item><x><y xmlns="urn:q"/></x></item></publish>');
    expect(standaloneXml(p)).toBe('<x xmlns="urn:p"><y xmlns="urn:q"/></x>');
  });

  it('copies prefix declarations used inside the payload from any ancestor, and no others', async () => {
    const p = await payloadOf('<publish xmlns="urn:p" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"><item><a:x b:attr="1"><a:y/><c:z xmlns:c="urn:c2"/></a:x></item></publish>');
    const s = standaloneXml(p);
    expect(s).toContain('xmlns:a="urn:a"');
    expect(s).toContain('xmlns:b="urn:b"');
    expect(s).not.toContain('xmlns:c="urn:c"');
    expect(s).toContain('xmlns:c="urn:c2"');
  });

  it('leaves a payload that declares its own namespace as it is', async () => {
    const p = await payloadOf('<publish xmlns="urn:p"><item><entry xmlns="urn:e"><t>1</t></entry></item></publish>');
    expect(standaloneXml(p)).toBe('<entry xmlns="urn:e"><t>1</t></entry>');
  });
});
