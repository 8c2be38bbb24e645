/**
 * The agent library: connect, follow nodes with catch-up and dedupe, publish.
 *
 *   import { connectAgent, publishVOEvent } from '../lib/index.ts';
 *   const agent = await connectAgent({ jid, password, server, service, stateDir, name: 'crossmatch', log });
 *   const f = await agent.follow('svom.fr/grb', async (item) => handle(item.xml), { since: 'latest', silenceMs: 60_000 });
 *   f.on('alarm', (a) => ...);
 *   const { id } = await publishVOEvent(agent, 'svom.fr/crossmatch', xmlText);
 *   await agent.stop();
 */
export { Agent, connectAgent, tlsProblem, type AgentOptions, type ItemsPage, type ItemsQuery, type PubsubItem } from './connect.ts';
export { Follower, type FollowOptions, type FollowedItem, type ItemHandler, type SilenceAlarm } from './follow.ts';
export { XmppIqError, NotConnectedError, IqTimeoutError, isTransient } from './errors.ts';
export { backoffDelay, type BackoffOptions } from './backoff.ts';
export { prepareVOEvent, publishVOEvent, InvalidVOEventError, type PreparedVOEvent, type PublishResult } from './publish.ts';
export { AgentState, writeFileAtomic, lockStateFile, type StateOptions } from './state.ts';
export { itemIdFor, ivornOf, rawXml, standaloneXml } from './xml.ts';
export { ensureNode } from './nodes.ts';
export { createLogger, silentLogger, logDestination, type Logger } from './log.ts';
export {
  CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, defaultStateDir, parseCommandLine, parseDuration, type ConnectionOptions,
} from './options.ts';
export { ConfigError, checkConfig, loadConfigFile, describeErrors, XMPP_CONFIG_SCHEMA, DURATION_SCHEMA } from './config.ts';
export { trustCertificates } from './tls.ts';
