/** `voxnet agent publisher --config FILE`: the science-centre publisher (see publisher.ts). */
import { connectAgent } from '../lib/connect.ts';
import { loadConfigFile } from '../../common/config.ts';
import { createLogger } from '../lib/log.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, parseCommandLine } from '../lib/options.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../lib/command.ts';
import { PUBLISHER_CONFIG_SCHEMA, Publisher, publisherSummary, type PublisherConfig } from './publisher.ts';

const USAGE = `usage: voxnet agent publisher --config FILE [--once] [connection options]

Watches the inbox for VOEvent packets (*.xml) and JSON burst descriptions (*.json),
validates them, publishes them to the product node, and moves each file to done/
or to failed/ with FILE.reason.txt. Prints one line per file.

  --config FILE   YAML configuration (required):
                    node: svom.fr/grb          product node
                    inbox: /data/inbox         where the ground segment drops files
                    done: /data/done           (default <inbox>/done)
                    failed: /data/failed       (default <inbox>/failed)
                    poll_interval: 1s
                    incomplete_timeout: 30s    an unparsable file unchanged this long is failed
                    validator: fast            or xsd (libxml2)
                    burst: { ivorn_base: ivo://org.svom/fsc, author: { shortName: SVOM FSC } }
                    xmpp: { jid, password, server, service, trust: [ca.pem] }
  --once          process what the inbox holds now, then exit (status 1 if a file failed)

${CONNECTION_HELP}`;

export async function publisherCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('agent publisher', USAGE, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      config: { type: 'string', short: 'c' },
      once: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    }, false);
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (!values.config) throw new UsageError('--config is required');
    const cfg = loadConfigFile<PublisherConfig>(values.config, PUBLISHER_CONFIG_SCHEMA);
    const conn = connectionFrom(values, env, cfg.xmpp);
    const log = createLogger('publisher', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? cfg.log_level ?? 'info', { node: cfg.node });
    const agent = await connectAgent({ ...conn, name: 'publisher', log, waitForServer: !values.once, servicePingMs: 0 });
    let failed = 0;
    try {
      const publisher = new Publisher(agent, cfg, (o) => {
        if (o.status === 'waiting') return;
        if (o.status === 'failed') failed++;
        io.out(publisherSummary(o));
      });
      if (values.once) {
        const outcomes = await publisher.scanOnce();
        return failed > 0 || outcomes.some((o) => o.status === 'retry') ? 1 : 0;
      }
      const signal = untilSignal();
      publisher.start();
      log.info({ inbox: publisher.inbox, done: publisher.doneDir, failed: publisher.failedDir }, 'watching the inbox');
      await signal.promise;
      signal.cancel();
      await publisher.stop();
      return 0;
    } finally {
      await agent.stop();
    }
  });
}
