import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProsody, type ProsodyServer } from '../broker-component/servers/prosody.ts';
import { connectClient, xml } from './helpers/xmpp.ts';

describe('test Prosody', () => {
  let prosody: ProsodyServer;
  beforeAll(async () => {
    prosody = await startProsody();
    prosody.addUser('alice', 'svom.fr', 'pw-alice');
    prosody.addUser('bob', 'svom.cn', 'pw-bob');
  });
  afterAll(async () => prosody?.stop());

  it('lets users on two virtual hosts log in and exchange a message', async () => {
    const alice = await connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'pw-alice', trust: prosody.certFiles });
    const bob = await connectClient({ service: prosody.c2sUrl, domain: 'svom.cn', username: 'bob', password: 'pw-bob', trust: prosody.certFiles });
    await alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat' }, xml('body', {}, 'hello across domains')));
    const m = await bob.waitMessage((m) => m.getChildText('body') === 'hello across domains');
    expect(m.attrs.from).toBe(alice.jid);
    await alice.stop();
    await bob.stop();
  });

  it('refuses a wrong password', async () => {
    await expect(
      connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'wrong' }),
    ).rejects.toThrow();
  });
});
