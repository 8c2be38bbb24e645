/**
 * voxnet agent mirror --config FILE     republish chosen nodes of the peer side's broker on this side's
 */
import {
  CONNECTION_ARGS, CONNECTION_HELP, UsageError, XMPP_CONFIG_SCHEMA, connectionFrom, createLogger, defaultStateDir,
  loadConfigFile, parseCommandLine, type ConnectionOptions,
} from '../lib/index.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../lib/command.ts';
import { startMirror, type MirrorNode } from './mirror.ts';

export const MIRROR_HELP = `usage: voxnet agent mirror --config FILE [options]

Broker mirroring (SvomNet's brokers in charge of distribution): follows chosen nodes of
the peer side's pubsub service (over s2s) and republishes each item on a node of this
side's service with the same item id. After a partition it republishes exactly what it
missed (XEP-0059 from its cursor); items published by a mirror agent (every side's,
listed in 'mirrors') are never mirrored again, so two sides mirroring each other cannot
loop. What it may read there is the peer policy's decision; what this side's levels see
is this side's policy (mirror into a product's source node to have it derived).

options (each also a key of the YAML file, see config/mirror.example.yaml):
  --config FILE       YAML configuration: origin, local, nodes [{from, to}], mirrors, since
  --origin JID        the peer side's pubsub service, e.g. pubsub.svom.fr     origin
  --local JID         this side's pubsub service, e.g. pubsub.svom.cn         local
  --node FROM[=TO]    a node to mirror (repeatable; TO defaults to FROM)     nodes
  --since beginning|latest|ITEM   where to start on a node the state does not know (default beginning)
  --state-dir DIR     cursors (default $VOXNET_STATE_DIR or ~/.local/state/voxnet)

${CONNECTION_HELP}`;

export type MirrorConfig = {
  xmpp?: Partial<ConnectionOptions>;
  origin?: string;
  local?: string;
  nodes?: MirrorNode[];
  mirrors?: string[];
  since?: string;
  state_dir?: string;
};

const JID = { type: 'string', pattern: '^[^@/\\s]+(@[^@/\\s]+)?$' } as const;
export const MIRROR_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    xmpp: XMPP_CONFIG_SCHEMA,
    origin: { ...JID, description: "the peer side's pubsub service" },
    local: { ...JID, description: "this side's pubsub service" },
    nodes: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: { type: 'string', minLength: 1 }, to: { type: 'string', minLength: 1 } } },
    },
    mirrors: { type: 'array', items: { type: 'string', pattern: '^[^@/\\s]+@[^@/\\s]+$' }, description: 'bare JIDs of every side’s mirror agents' },
    since: { type: 'string', minLength: 1 },
    state_dir: { type: 'string', minLength: 1 },
  },
} as const;

export async function mirrorCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('agent mirror', MIRROR_HELP, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      config: { type: 'string' },
      origin: { type: 'string' },
      local: { type: 'string' },
      node: { type: 'string', multiple: true },
      since: { type: 'string' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, false);
    if (values.help) {
      io.out(MIRROR_HELP);
      return 0;
    }
    const cfg: MirrorConfig = values.config ? loadConfigFile<MirrorConfig>(values.config, MIRROR_SCHEMA) : {};
    const origin = values.origin ?? cfg.origin;
    const local = values.local ?? cfg.local;
    if (!origin) throw new UsageError("no origin: give --origin JID or 'origin' in the configuration (the peer side's pubsub service)");
    if (!local) throw new UsageError("no local service: give --local JID or 'local' in the configuration");
    if (origin === local) throw new UsageError(`--origin and --local are the same service (${origin}): a mirror copies from the peer side`);
    const nodes: MirrorNode[] = values.node?.length
      ? values.node.map((n) => {
          const [from, to] = n.split('=');
          if (!from) throw new UsageError(`--node '${n}' is not FROM or FROM=TO`);
          return { from, to: to || from };
        })
      : (cfg.nodes ?? []);
    if (!nodes.length) throw new UsageError("no nodes to mirror: give --node FROM[=TO] or 'nodes' in the configuration");
    const conn = connectionFrom(values, env, cfg.xmpp ?? {});
    const log = createLogger('mirror', values['log-level'] ?? env.VOXNET_LOG_LEVEL);
    const stateDir = values['state-dir'] ?? cfg.state_dir ?? defaultStateDir(env);
    const signal = untilSignal();
    try {
      const mirror = await startMirror({
        connection: { ...conn, stateDir, waitForServer: true },
        origin,
        local,
        nodes,
        mirrors: cfg.mirrors,
        since: values.since ?? cfg.since,
        log,
      });
      log.info({ origin, local, nodes: nodes.map((n) => `${n.from} → ${n.to}`) }, 'mirror running');
      await signal.promise;
      await mirror.stop();
      log.info({ copied: Object.fromEntries(mirror.copied), skipped: mirror.skipped }, 'mirror stopped');
      return 0;
    } finally {
      signal.cancel();
    }
  });
}
