/** `voxnet replay DIR --node NODE --speed N`: replay real packets in time order, for drills. */
import { connectAgent } from '../lib/connect.ts';
import { createLogger } from '../lib/log.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, parseCommandLine, parseDuration } from '../lib/options.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../lib/command.ts';
import { describePacket, loadReplay, replay, replaySchedule, type ReplayOrder } from './replay.ts';

const USAGE = `usage: voxnet replay DIR --node NODE [options]

Publishes the VOEvents of DIR (*.xml) to NODE in time order, waiting between two
packets the time that separated them divided by --speed. Invalid packets are
skipped with the reason. Prints one line per packet: time, item id, summary.

  --node NODE           node to publish to (required)
  --speed N             N× real time (default 1; "max" or 0: no waiting)
  --by who|event        order by Who/Date (default) or by the event time in WhereWhen
  --max-gap DURATION    longest wait between two packets (default 10s)
  --as-test             publish with role="test" (drills)
  --tag TAG             append "-TAG" to every IVORN (and cited IVORN): the drill's events are new ones
  --dry-run             print the schedule, publish nothing

${CONNECTION_HELP}`;

export async function replayCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('replay', USAGE, io, async () => {
    const { values, positionals } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      node: { type: 'string' },
      speed: { type: 'string', default: '1' },
      by: { type: 'string', default: 'who' },
      'max-gap': { type: 'string', default: '10s' },
      'as-test': { type: 'boolean' },
      tag: { type: 'string' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('give one DIR');
    if (!values.node && !values['dry-run']) throw new UsageError('--node is required');
    const speed = values.speed === 'max' || values.speed === '0' ? Infinity : Number(values.speed);
    if (!(speed > 0)) throw new UsageError(`--speed '${values.speed}' must be a positive number or "max"`);
    const by = values.by as ReplayOrder;
    if (by !== 'who' && by !== 'event') throw new UsageError('--by must be who or event');
    if (values.tag !== undefined && !/^[A-Za-z0-9._-]+$/.test(values.tag)) throw new UsageError('--tag may hold letters, digits, ".", "_" and "-" only');
    const maxGapMs = parseDuration(values['max-gap']!, '--max-gap');
    const { packets, skipped } = loadReplay(positionals[0]!, { by, asTest: values['as-test'], tag: values.tag });
    for (const s of skipped) io.err(`skipped: ${s.reason}`);
    if (packets.length === 0) {
      io.err('voxnet replay: no valid packet to replay');
      return 1;
    }
    if (values['dry-run']) {
      const waits = replaySchedule(packets, speed, maxGapMs);
      packets.forEach((p, i) => io.out(`+${(waits[i]! / 1000).toFixed(3)}s ${describePacket(p)}`));
      return 0;
    }
    const conn = connectionFrom(values, env);
    const log = createLogger('replay', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? 'warn', { node: values.node });
    const agent = await connectAgent({ ...conn, name: 'replay', log, servicePingMs: 0 });
    const signal = untilSignal();
    const abort = new AbortController();
    void signal.promise.then(() => abort.abort());
    try {
      await replay(agent, packets, { node: values.node!, speed, maxGapMs, signal: abort.signal, onPublished: (p) => io.out(describePacket(p)) });
      return 0;
    } finally {
      signal.cancel();
      await agent.stop();
    }
  });
}
