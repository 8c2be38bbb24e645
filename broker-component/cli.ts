/** `voxnet broker [--config FILE]`: run the publish-subscribe component until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { ConfigError, envVariables, loadBrokerConfig } from './config.ts';
import { startBroker, brokerLogger } from './broker.ts';
import type { BrokerConfig } from './config.ts';
import type { ServiceLock } from './ha.ts';
import type { Logger } from 'pino';

export async function brokerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: voxnet broker [--config FILE]\n\nenvironment variables (each overrides the file):');
    for (const v of envVariables()) console.log(`  ${v.variable.padEnd(30)} ${v.key}${v.description ? ` — ${v.description}` : ''}`);
    return 0;
  }
  let cfg;
  try {
    cfg = loadBrokerConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`voxnet broker: invalid configuration\n${e.message}`);
      return 2;
    }
    throw e;
  }
  const stopping = new AbortController();
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      stopping.abort();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // Active/standby: serve only while holding the domain's lock (see ha.ts).
  const log = brokerLogger(cfg);
  const lock = cfg.ha.lock ? await holdLockOrStop(cfg, log, stopping.signal) : undefined;
  if (cfg.ha.lock && !lock) return 0; // stopped while standing by
  const broker = await startBroker(cfg, { log });
  await stopped;
  broker.log.info('stopping');
  await broker.stop();
  await lock?.release();
  // xmpp.js 0.13 can leave a stream timer behind when the server closed first; do not wait for it.
  setTimeout(() => process.exit(0), 100).unref();
  return 0;
}

/**
 * Wait for the service lock as a standby, then hold it; losing it ends the
 * process at once (fencing: two actives must never serve one domain).
 */
async function holdLockOrStop(cfg: BrokerConfig, log: Logger, signal: AbortSignal): Promise<ServiceLock | undefined> {
  const { holdServiceLock, LockWaitAborted } = await import('./ha.ts');
  try {
    const lock = await holdServiceLock({ url: cfg.ha.url!, domain: cfg.domain, log, signal });
    lock.onLost((why) => {
      log.fatal({ lock: lock.key }, `service lock lost (${why}): stopping at once so that a standby takes over`);
      process.exit(75);
    });
    return lock;
  } catch (e) {
    if (e instanceof LockWaitAborted) return undefined;
    throw e;
  }
}

/** `voxnet backup --out FILE [--config FILE | --data-dir DIR]`: an online, checked copy of the broker's database. */
export async function backupCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      out: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const usage = 'usage: voxnet backup --out FILE [--config broker.yaml | --data-dir DIR]\n\n' +
    'Copies the broker database while the broker runs (SQLite backup API), checks the copy,\n' +
    'and only then gives it the name FILE. Restore: stop the broker, put FILE in place of\n' +
    'DATA_DIR/voxnet.sqlite (remove voxnet.sqlite-wal and -shm), start the broker.';
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.out) {
    console.error(`voxnet backup: --out FILE is required\n${usage}`);
    return 2;
  }
  let dataDir = values['data-dir'];
  if (!dataDir) {
    try {
      if (values.config || process.env.VOXNET_DATA_DIR === undefined) {
        const cfg = loadBrokerConfig(values.config);
        if (cfg.storage.driver === 'postgres') {
          const { redactUrl } = await import('./store/postgres.ts');
          console.error(
            `voxnet backup: this broker stores its data in PostgreSQL (${redactUrl(cfg.storage.url!)}), not in a SQLite file.\n` +
              'Back it up with PostgreSQL\'s own tools, online and consistent: pg_dump --format=custom --file=FILE URL\n' +
              '(restore: pg_restore --clean --dbname=URL FILE with the broker stopped; see docs/deploy.md, "PostgreSQL storage").',
          );
          return 2;
        }
        dataDir = cfg.data_dir!;
      } else dataDir = process.env.VOXNET_DATA_DIR;
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`voxnet backup: invalid configuration\n${e.message}`);
        return 2;
      }
      throw e;
    }
  }
  const { backupDatabase, BackupError } = await import('./backup.ts');
  try {
    const r = await backupDatabase(dataDir, values.out);
    console.log(`${r.file}: ${r.nodes} nodes, ${r.items} items, ${r.bytes} bytes (integrity ok)`);
    return 0;
  } catch (e) {
    if (e instanceof BackupError) {
      console.error(`voxnet backup: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
