/**
 * voxnet agent crossmatch --config FILE                  follow the alert nodes, publish crossmatch results
 * voxnet agent crossmatch --config FILE --dry-run ALERT  crossmatch one alert file and print the results
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CONNECTION_ARGS, CONNECTION_HELP, ConfigError, UsageError, connectionFrom, createLogger, defaultStateDir, parseCommandLine } from '../lib/index.ts';
import type { CliIO } from '../lib/command.ts';
import { CrossmatchAgent, loadTargets } from './agent.ts';
import { AlertError, alertOfItem } from './alert.ts';
import { loadCrossmatchConfig, type CrossmatchConfig } from './config.ts';
import { jsonText } from './result.ts';

export const CROSSMATCH_HELP = `usage: voxnet agent crossmatch --config FILE [options]
       voxnet agent crossmatch --config FILE --dry-run ALERT [--voevent]

Follows the alert nodes named in the configuration. For each alert (a VOEvent, or
an igwn.gwalert JSON notice, bare or inside <json xmlns="urn:xmpp:json:0">) it reads
the localisation (the notice's base64 sky map, a VOEvent sky-map URL Param such as
skymap_fits, or a VOEvent error circle), crossmatches it against the galaxy
catalogue, the telescope fields and the watch-list (loaded once at start), and
publishes the result on the derived node twice: as JSON (XEP-0335) and as a
VOEvent citing the alert. A retraction withdraws (retracts) the event's results.

options:
  --config FILE         configuration (YAML; see config/crossmatch.example.yaml)
  --dry-run FILE        crossmatch one alert file (VOEvent XML or JSON) as the running agent
                        would, print the JSON result, publish nothing, then exit
  --voevent             with --dry-run: print the result VOEvent instead of the JSON
  --node NODE           with --dry-run: the alert node to pretend the alert came from
                        (default: the first configured node)
  --state FILE          where published results are remembered (default: state_file in the
                        configuration, else $VOXNET_STATE_DIR/crossmatch-NAME-results.json)

${CONNECTION_HELP}`;

const defaultIo: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l) };

async function dryRun(cfg: CrossmatchConfig, file: string, node: string, voevent: boolean, io: CliIO, logLevel?: string): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const log = createLogger('crossmatch', logLevel ?? 'warn', { config: cfg.name });
  const targets = await loadTargets(cfg, log);
  const agent = new CrossmatchAgent({ config: cfg, targets, log });
  let alert;
  try {
    alert = alertOfItem({ xml: text });
  } catch (e) {
    if (e instanceof AlertError) {
      io.err(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  if (alert.info.retraction) {
    io.out(jsonText({ retraction: true, keys: alert.info.retraction.keys, ivorns: alert.info.retraction.ivorns }));
    return 0;
  }
  const c = await agent.compute(alert, node, basename(file));
  if (!c) {
    io.err(`${file}: the alert carries no localisation (no sky map, sky-map URL or error circle)`);
    return 1;
  }
  if (voevent) {
    if (!c.voevent) throw new UsageError('--voevent: the configuration has results.formats without voevent');
    io.out(c.voevent);
  } else io.out(JSON.stringify(JSON.parse(jsonText(c.document)), null, 2));
  return 0;
}

export async function crossmatchCommand(argv: string[], io: CliIO = defaultIo): Promise<number> {
  const { values } = parseCommandLine(argv, {
    ...CONNECTION_ARGS,
    config: { type: 'string' },
    'dry-run': { type: 'string' },
    voevent: { type: 'boolean' },
    node: { type: 'string' },
    state: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    io.out(CROSSMATCH_HELP);
    return 0;
  }
  if (!values.config) throw new UsageError('--config FILE is required');
  let cfg: CrossmatchConfig;
  try {
    cfg = loadCrossmatchConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(e.message);
      return 2;
    }
    throw e;
  }
  if (values.state) cfg.stateFile = values.state;
  if (values['dry-run'] !== undefined) {
    return dryRun(cfg, values['dry-run'], values.node ?? cfg.routes[0]!.node, !!values.voevent, io, values['log-level']);
  }
  if (values.voevent || values.node) throw new UsageError('--voevent and --node go with --dry-run');
  const conn = connectionFrom(values, process.env, cfg.xmpp ?? {});
  const log = createLogger('crossmatch', values['log-level'], { config: cfg.name });
  const { runCrossmatch } = await import('./run.ts');
  let handle;
  try {
    handle = await runCrossmatch({ config: cfg, connection: conn, log, stateDir: defaultStateDir() });
  } catch (e) {
    io.err(`voxnet agent crossmatch: ${(e as Error).message}`);
    return 1;
  }
  log.info({ routes: cfg.routes, formats: cfg.formats }, 'crossmatch agent running');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await handle.stop();
  return 0;
}
