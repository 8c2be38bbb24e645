/**
 * ejabberd is VOXnet's second server (it clusters, for large deployments): the
 * whole XEP-0060 integration suite runs again with the broker attached to a real
 * ejabberd instead of Prosody.
 */
import { describe, it } from 'vitest';
import { ejabberdAvailable } from '../broker-component/servers/index.ts';

if (ejabberdAvailable()) {
  (globalThis as { VOXNET_TEST_SERVER?: string }).VOXNET_TEST_SERVER = 'ejabberd';
  await import('./broker-xep0060.test.ts');
} else {
  describe('XEP-0060 suite on ejabberd', () => {
    it.skip('skipped: ejabberd is not installed (apt-get install ejabberd; `make test` does it)', () => {});
  });
}
