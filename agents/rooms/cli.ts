/**
 * voxnet agent rooms --config FILE     relay alerts into XEP-0045 rooms, one per product and level
 */
import { join } from 'node:path';
import {
  CONNECTION_ARGS, CONNECTION_HELP, UsageError, XMPP_CONFIG_SCHEMA, connectAgent, connectionFrom, createLogger, defaultStateDir,
  loadConfigFile, parseCommandLine, type ConnectionOptions,
} from '../lib/index.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../lib/command.ts';

export const ROOMS_HELP = `usage: voxnet agent rooms [--config FILE] [options]

Relays alerts into multi-user chat rooms (XEP-0045): one room per product and
access level (svom/eclairs/collaboration → svom-eclairs-collaboration@MUC),
members-only, whose member lists follow the access policy (a JID or domain that
loses a level is removed from its room when the policy file changes or on
SIGHUP). Each alert is one groupchat message: its summary and a link to its page.
The agent's account must be able to read the level nodes (a broker admin) and to
create rooms on the MUC service.

options (each also a key of the YAML file, see config/rooms.example.yaml):
  --config FILE       YAML configuration
  --policy FILE       the access policy the broker enforces     policy_file / VOXNET_POLICY_FILE
  --muc JID           the MUC service, e.g. conference.svom.fr   muc / VOXNET_MUC
  --nick NICK         nickname in the rooms (default VOXnet)    nick
  --web-url URL       link of each alert: base URL of the web page, or a template
                      with {node} {id} {ivorn}                   web_url / VOXNET_WEB_URL
  --since latest|beginning   where a new room starts reading its node (default latest)
  --state-dir DIR     follow state (default $VOXNET_STATE_DIR or ~/.local/state/voxnet)

${CONNECTION_HELP}`;

export type RoomsConfig = {
  xmpp?: Partial<ConnectionOptions>;
  policy_file?: string;
  muc?: string;
  nick?: string;
  web_url?: string;
  since?: 'latest' | 'beginning';
  state_dir?: string;
};

export const ROOMS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    xmpp: XMPP_CONFIG_SCHEMA,
    policy_file: { type: 'string', minLength: 1 },
    muc: { type: 'string', pattern: '^[^@/\\s]+$', description: 'a MUC service domain such as conference.svom.fr' },
    nick: { type: 'string', minLength: 1 },
    web_url: { type: 'string', pattern: '^https?://', description: 'an http(s) URL' },
    since: { enum: ['latest', 'beginning'] },
    state_dir: { type: 'string', minLength: 1 },
  },
} as const;

export async function roomsCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('agent rooms', ROOMS_HELP, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      config: { type: 'string' },
      policy: { type: 'string' },
      muc: { type: 'string' },
      nick: { type: 'string' },
      'web-url': { type: 'string' },
      since: { type: 'string' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, false);
    if (values.help) {
      io.out(ROOMS_HELP);
      return 0;
    }
    const cfg: RoomsConfig = values.config ? loadConfigFile<RoomsConfig>(values.config, ROOMS_SCHEMA) : {};
    const policyFile = values.policy ?? cfg.policy_file ?? env.VOXNET_POLICY_FILE;
    if (!policyFile) throw new UsageError('no access policy: give --policy FILE, policy_file in the configuration, or VOXNET_POLICY_FILE');
    const muc = values.muc ?? cfg.muc ?? env.VOXNET_MUC;
    const conn = connectionFrom(values, env, cfg.xmpp ?? {});
    const mucService = muc ?? `conference.${conn.jid.replace(/\/.*/, '').split('@')[1]}`;
    const since = (values.since ?? cfg.since ?? 'latest') as 'latest' | 'beginning';
    if (since !== 'latest' && since !== 'beginning') throw new UsageError('--since must be latest or beginning');
    const webUrl = values['web-url'] ?? cfg.web_url ?? env.VOXNET_WEB_URL;
    if (webUrl !== undefined && !/^https?:\/\//.test(webUrl)) throw new UsageError(`--web-url '${webUrl}' is not an http(s) URL`);
    const log = createLogger('rooms', values['log-level'] ?? env.VOXNET_LOG_LEVEL);
    const stateDir = values['state-dir'] ?? cfg.state_dir ?? defaultStateDir(env);
    const agent = await connectAgent({ ...conn, name: 'rooms', stateDir, log, waitForServer: true });
    const signal = untilSignal();
    const abort = new AbortController();
    void signal.promise.then(() => abort.abort());
    try {
      const { runRooms } = await import('./run.ts');
      const handle = await runRooms({ agent, log, policyFile, muc: mucService, nick: values.nick ?? cfg.nick, alertUrl: webUrl, since, signal: abort.signal });
      if (!abort.signal.aborted) log.info({ muc: mucService, rooms: handle.rooms().length, state: join(stateDir) }, 'rooms agent running');
      await signal.promise;
      await handle.stop();
      return 0;
    } finally {
      signal.cancel();
      await agent.stop();
    }
  });
}
