/**
 * The conformance suite (broker-conformance.test.ts) with the broker behind
 * ejabberd instead of Prosody: same behaviour whatever server routes the stanzas.
 */
import { describe, it } from 'vitest';
import { ejabberdAvailable } from '../broker-component/servers/index.ts';

if (ejabberdAvailable()) {
  (globalThis as { VOXNET_TEST_SERVER?: string }).VOXNET_TEST_SERVER = 'ejabberd';
  await import('./broker-conformance.test.ts');
} else {
  describe('XEP-0060 conformance suite on ejabberd', () => {
    it.skip('skipped: ejabberd is not installed (apt-get install ejabberd; `make test` does it)', () => {});
  });
}
