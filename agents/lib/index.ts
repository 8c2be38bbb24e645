/**
 * The agent library: connect, follow nodes with catch-up and dedupe, publish.
 *
 *   import { connectAgent, publishVOEvent } from './index.ts';
 *   const agent = await connectAgent({ jid, password, server, service, stateDir, name: 'crossmatch', log });
 *   const f = await agent.follow('svom.fr/grb', async (item) => handle(item.xml), { since: 'latest', silenceMs: 60_000 });
 *   f.on('alarm', (a) => ...);
 *   const { id } = await publishVOEvent(agent, 'svom.fr/crossmatch', xmlText);
 *   await agent.stop();
 */
export { Agent, connectAgent, tlsProblem, type AgentOptions, type ItemsPage, type ItemsQuery, type PubsubItem } from './connect.ts';
export { Follower, type BatchHandler, type FollowOptions, type FollowedItem, type ItemHandler, type SilenceAlarm } from './follow.ts';
export { type ArchiveQuery, type ArchivePage, type ArchivedItem } from './archive.ts';
export { XmppIqError, NotConnectedError, IqTimeoutError, isTransient } from '../../common/xmpp/iq-errors.ts';
export { backoffDelay, type BackoffOptions } from '../../common/backoff.ts';
export { prepareVOEvent, publishVOEvent, InvalidVOEventError, type PreparedVOEvent, type PublishResult } from './publish.ts';
export { AgentState, writeFileAtomic, lockStateFile, type StateOptions } from './state.ts';
export { itemIdFor, ivornOf } from './xml.ts';
export { rawXml, standaloneXml, embeddablePayload } from '../../common/xml-standalone.ts';
export { ensureNode } from './nodes.ts';
export { createLogger, silentLogger, logDestination, type Logger } from './log.ts';
export {
  CONNECTION_ARGS, CONNECTION_HELP, XMPP_CONFIG_SCHEMA, UsageError, connectionFrom, defaultStateDir, parseCommandLine, parseDuration, type ConnectionOptions,
} from './options.ts';
export { ConfigError, checkConfig, loadConfigFile, describeAjvErrors } from '../../common/config.ts';
export { durationSchema } from '../../common/duration.ts';
export { trustCertificates } from '../../common/xmpp/tls.ts';
