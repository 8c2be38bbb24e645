/** common/xmpp/utf8.ts: a character split across two socket reads arrives whole. */
import { describe, expect, it } from 'vitest';
import ClientConnection from '@xmpp/connection';
import { fixXmppUtf8Decoding } from '../common/xmpp/utf8.ts';

describe('xmpp.js UTF-8 decoding', () => {
  it('decodes each socket as one stream', () => {
    fixXmppUtf8Decoding();
    const written: string[] = [];
    const conn = Object.create((ClientConnection as unknown as { prototype: object }).prototype) as {
      socket: object;
      parser: { write(s: string): void };
      emit(): void;
      _onData(d: Buffer): void;
    };
    conn.socket = {};
    conn.parser = { write: (s) => void written.push(s) };
    conn.emit = () => {};
    const bytes = Buffer.from('<x>45° Étoile</x>', 'utf8');
    const cut = bytes.indexOf(0xb0); // inside "°" (C2 B0)
    conn._onData(bytes.subarray(0, cut));
    conn._onData(bytes.subarray(cut));
    expect(written.join('')).toBe('<x>45° Étoile</x>');
    expect(written.join('')).not.toContain('\uFFFD');
  });
});
