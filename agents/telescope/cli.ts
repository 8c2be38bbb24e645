/**
 * voxnet agent telescope --config FILE                     follow the alert nodes and act
 * voxnet agent telescope --config FILE --explain PACKET.xml [--at ISO-TIME]
 *                                                          print the decision, without connecting
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, type VOEvent } from '../../voevent/index.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, createLogger, defaultStateDir, parseCommandLine } from '../lib/index.ts';
import type { CliIO } from '../lib/command.ts';
import { decide, formatDecision, parseIsoUtc, type Decision } from './decide.ts';
import { buildRequestGroup, type RequestGroup } from './requests.ts';
import { loadRules, type Rules } from './rules.ts';
import { Tracker } from './tracker.ts';

export const TELESCOPE_HELP = `usage: voxnet agent telescope --config FILE [options]
       voxnet agent telescope --config FILE --explain PACKET.xml [--at ISO-TIME] [--json]

Follows the alert nodes named in the rules file and, for each VOEvent, decides
whether this telescope should observe: trigger now, schedule for later in the
window, update, cancel, or reject (with a status VOEvent saying why).

options:
  --config FILE         trigger rules (YAML; see config/telescope.example.yaml)
  --explain FILE        print the decision and every rule's verdict for a packet, then exit
  --at ISO-TIME         decide as if it were this time (explain: default the packet's Who/Date;
                        running: the clock starts there and runs on, for drills and replays)
  --json                with --explain: the decision (and request group) as JSON
  --drill               drill mode: role=test alerts are handled like real ones
  --state FILE          where requests are remembered (default: state_file in the rules, else
                        $VOXNET_STATE_DIR/telescope-NAME.json)
  --no-state            with --explain: ignore the remembered requests

${CONNECTION_HELP}`;

const defaultIo: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l) };

export interface Explanation {
  decision: Decision;
  requestGroup?: RequestGroup;
  text: string;
}

/** The decision for one packet at one instant, as the running agent would take it (read-only). */
export function explain(rules: Rules, ev: VOEvent, at: Date, tracker?: Tracker): Explanation {
  const duplicate = tracker?.isHandled(ev.ivorn) ?? false;
  const prior = duplicate ? undefined : tracker?.lookup(ev);
  const decision = decide(ev, rules, at, prior, { full: true, duplicate });
  const out: Explanation = { decision, text: formatDecision(decision) };
  if (decision.action === 'trigger' || decision.action === 'schedule' || decision.action === 'update') out.requestGroup = buildRequestGroup(decision, rules);
  return out;
}

function readPacket(file: string): VOEvent {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return parse(text);
  } catch (e) {
    throw new Error(`${file}: not a VOEvent: ${(e as Error).message}`);
  }
}

function parseAt(s: string): Date {
  const d = parseIsoUtc(s);
  if (!d) throw new UsageError(`--at '${s}' is not an ISO time like 2026-05-11T06:14:19Z`);
  return d;
}

export async function telescopeCommand(argv: string[], io: CliIO = defaultIo): Promise<number> {
  const { values } = parseCommandLine(argv, {
    ...CONNECTION_ARGS,
    config: { type: 'string' },
    explain: { type: 'string' },
    at: { type: 'string' },
    json: { type: 'boolean' },
    drill: { type: 'boolean' },
    state: { type: 'string' },
    'no-state': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    io.out(TELESCOPE_HELP);
    return 0;
  }
  if (!values.config) throw new UsageError('--config FILE is required');
  const rules = loadRules(values.config);
  if (values.drill) rules.drill = true;
  const stateFile = values.state ?? rules.stateFile;

  if (values.explain !== undefined) {
    const ev = readPacket(values.explain);
    const at = values.at !== undefined ? parseAt(values.at) : parseIsoUtc(ev.who?.date) ?? parseIsoUtc(ev.whereWhen?.time?.iso);
    if (!at) throw new UsageError(`${values.explain} has no Who/Date nor event time: give --at`);
    const tracker = stateFile && !values['no-state'] ? new Tracker({ file: stateFile }) : undefined;
    const x = explain(rules, ev, at, tracker);
    if (values.json) io.out(JSON.stringify({ decision: x.decision, ...(x.requestGroup ? { request_group: x.requestGroup } : {}) }, null, 2));
    else {
      io.out(x.text);
      if (x.requestGroup) io.out(`\nrequest group (${rules.action.type === 'http' ? `POST ${rules.action.url}` : `stdin of ${rules.action.command.join(' ')}`}):\n${JSON.stringify(x.requestGroup, null, 2)}`);
    }
    return 0;
  }
  if (values.json) throw new UsageError('--json goes with --explain');
  return run(rules, values, stateFile);
}

async function run(rules: Rules, values: Record<string, unknown>, stateFile: string | undefined): Promise<number> {
  if (rules.nodes.length === 0) throw new UsageError(`${rules.source}: subscribe.nodes names no node to follow`);
  const conn = connectionFrom(values, process.env, rules.xmpp ?? {});
  const log = createLogger('telescope', values['log-level'] as string | undefined, { telescope: rules.telescope.name });
  const startedAt = Date.now();
  const at = typeof values.at === 'string' ? parseAt(values.at) : undefined;
  const now = at ? () => new Date(at.getTime() + (Date.now() - startedAt)) : () => new Date();
  const tracker = new Tracker({ file: stateFile ?? join(defaultStateDir(), `telescope-${rules.telescope.name}.json`) });
  const { runTelescope } = await import('./run.ts');
  const handle = await runTelescope({ rules, connection: conn, tracker, log, now, stateDir: defaultStateDir() });
  log.info({ nodes: rules.nodes, statusNode: rules.statusNode, drill: rules.drill, at: at?.toISOString() }, 'telescope agent running');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await handle.stop();
  return 0;
}

