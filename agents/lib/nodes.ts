/** Nodes an agent publishes to. */
import { xml } from '@xmpp/xml';
import type { Agent } from './connect.ts';
import { XmppIqError } from '../../common/xmpp/iq-errors.ts';
import type { Logger } from './log.ts';
import { NS } from '../../common/ns.ts';

/**
 * Create a node if it does not exist (an existing node is fine). Any other
 * refusal is logged, not thrown: publishing will tell whether the node exists.
 * `what` names the node in the log ("the result node").
 */
export async function ensureNode(sdk: Agent, node: string, what: string, log?: Logger): Promise<void> {
  try {
    await sdk.iq('set', xml('pubsub', { xmlns: NS.PUBSUB }, xml('create', { node })));
    log?.info({ node }, `created ${what}`);
  } catch (e) {
    if (e instanceof XmppIqError && e.condition === 'conflict') return;
    log?.warn({ node, err: (e as Error).message }, `could not create ${what} (publishing will tell whether it exists)`);
  }
}
