/** `voxnet heartbeat --node NODE --interval 1s`: publish a heartbeat VOEvent every interval. */
import { connectAgent } from '../lib/connect.ts';
import { createLogger } from '../lib/log.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, parseCommandLine, parseDuration } from '../lib/options.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../lib/command.ts';
import { runHeartbeat } from './heartbeat.ts';

const USAGE = `usage: voxnet heartbeat --node NODE [options]

Publishes a small VOEvent (role=utility) to NODE every interval; subscribers notice
when it stops (voxnet subscribe NODE --alarm-silence 5s). Prints each item id.

  --node NODE           node of the heartbeat stream (required)
  --interval DURATION   time between beats (default 1s)
  --count N             stop after N beats (default: until SIGINT/SIGTERM)
  --ivorn-base IVORN    IVORN of the stream without '#local' (default ivo://<domain>/voxnet/heartbeat)
  --test                mark the packets role=test instead of utility

${CONNECTION_HELP}`;

export async function heartbeatCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('heartbeat', USAGE, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      node: { type: 'string' },
      interval: { type: 'string', default: '1s' },
      count: { type: 'string' },
      'ivorn-base': { type: 'string' },
      test: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    }, false);
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (!values.node) throw new UsageError('--node is required');
    const intervalMs = parseDuration(values.interval!, '--interval');
    if (intervalMs < 10) throw new UsageError('--interval must be at least 10ms');
    const count = values.count !== undefined ? Number(values.count) : undefined;
    if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new UsageError('--count must be a positive integer');
    const ivornBase = values['ivorn-base'];
    if (ivornBase !== undefined && (!/^ivo:\/\/[^/#\s]+/.test(ivornBase) || ivornBase.includes('#'))) throw new UsageError('--ivorn-base must look like ivo://authority/path (no #)');
    const conn = connectionFrom(values, env);
    const log = createLogger('heartbeat', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? 'info', { node: values.node });
    const agent = await connectAgent({ ...conn, name: 'heartbeat', log, waitForServer: true, servicePingMs: 0 });
    const signal = untilSignal();
    const run = runHeartbeat(agent, {
      node: values.node,
      intervalMs,
      count,
      ivornBase,
      role: values.test ? 'test' : 'utility',
      onBeat: (b) => b.id && io.out(b.id),
    });
    try {
      await Promise.race([run.done, signal.promise]);
      return 0;
    } finally {
      run.stop();
      signal.cancel();
      await agent.stop();
    }
  });
}
