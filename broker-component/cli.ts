/** `voxnet broker [--config FILE]`: run the publish-subscribe component until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { ConfigError, envVariables, loadBrokerConfig } from './config.ts';
import { startBroker } from './broker.ts';

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
  const broker = await startBroker(cfg);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  broker.log.info('stopping');
  await broker.stop();
  // xmpp.js 0.13 can leave a stream timer behind when the server closed first; do not wait for it.
  setTimeout(() => process.exit(0), 100).unref();
  return 0;
}
