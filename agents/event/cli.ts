/**
 * `voxnet event REF`: one event's thread as the broker keeps it (the ad-hoc
 * command urn:voxnet:event): its alerts in order and its current state (latest
 * alert and localisation, retracted or not). REF is an IVORN, a mission event id
 * (lvk:S190425z, swift:1118357, or just S190425z) or an item id.
 */
import { xml } from '@xmpp/xml';
import { describeLocalisation, type ThreadState } from '../../voevent/index.ts';
import { connectAgent, type Agent } from '../lib/connect.ts';
import { createLogger } from '../lib/log.ts';
import { NS } from '../../common/ns.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, parseCommandLine } from '../lib/options.ts';
import { runCommand, stdio, type CliIO } from '../lib/command.ts';

export const EVENT_COMMAND = 'urn:voxnet:event';
const COMMANDS = 'http://jabber.org/protocol/commands';
const JSON_NS = 'urn:xmpp:json:0';

const USAGE = `usage: voxnet event REF [--format summary|json]

Prints the thread of one event: every alert about it you may read (VOEvent
citations, LVK AlertType, GCN JSON alert_type and event ids link them), then its
state: retracted or not, the latest alert, the latest localisation.
REF: an IVORN, a mission event id (lvk:S190425z, swift:1118357, S190425z) or an item id.

${CONNECTION_HELP}`;

export type EventThread = { thread: string; state: ThreadState };

/** Ask the service for an event's thread (XmppIqError item-not-found when there is none we may see). */
export async function queryEventThread(agent: Agent, ref: string): Promise<EventThread> {
  const reply = await agent.iq('set', xml('command', { xmlns: COMMANDS, node: EVENT_COMMAND, action: 'execute' },
    xml('x', { xmlns: NS.DATA, type: 'submit' }, xml('field', { var: 'ref' }, xml('value', {}, ref)))));
  const json = reply.getChild('command', COMMANDS)?.getChildText('json', JSON_NS);
  if (!json) throw new Error(`the service gave no thread for ${ref}`);
  return JSON.parse(json) as EventThread;
}

export function formatThread(t: EventThread): string[] {
  const s = t.state;
  const lines = [`thread ${t.thread}  event ${s.eventIds.join(', ') || '(no mission id)'}  ${s.retracted ? `RETRACTED by ${s.retractedBy}` : 'active'}`];
  if (s.latest) lines.push(`latest: ${s.latest.ivorn ?? `${s.latest.node}/${s.latest.item}`}${s.latest.alertType ? ` (${s.latest.alertType})` : ''}`);
  if (s.localisation) lines.push(`localisation: ${describeLocalisation(s.localisation)}`);
  for (const e of s.entries) {
    const mark = s.superseded.includes(e.ivorn ?? '') ? ' (superseded)' : '';
    lines.push(`  ${new Date(e.published).toISOString()}  ${e.relation.padEnd(10)}  ${e.ivorn ?? '(no IVORN)'}${e.alertType ? ` [${e.alertType}]` : ''}  ${e.node}/${e.item}${mark}`);
  }
  return lines;
}

export async function eventCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('event', USAGE, io, async () => {
    const { values, positionals } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      format: { type: 'string', default: 'summary' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one REF (IVORN, event id or item id)');
    if (values.format !== 'summary' && values.format !== 'json') throw new UsageError('--format must be summary or json');
    const conn = connectionFrom(values, env);
    const agent = await connectAgent({ ...conn, name: 'event', log: createLogger('event', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? 'warn') });
    try {
      const t = await queryEventThread(agent, positionals[0]!);
      if (values.format === 'json') io.out(JSON.stringify(t));
      else for (const l of formatThread(t)) io.out(l);
      return 0;
    } finally {
      await agent.stop();
    }
  });
}
