/** `voxnet publish --node NODE [FILE|-]`: validate a VOEvent, publish it, print the item id. */
import { connectAgent } from '../lib/connect.ts';
import { createLogger } from '../lib/log.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, parseCommandLine, parseDuration } from '../lib/options.ts';
import { prepareVOEvent, publishVOEvent } from '../lib/publish.ts';
import { readInput, runCommand, stdio, type CliIO } from '../lib/command.ts';
import { formatIssue } from '../../voevent/index.ts';

const USAGE = `usage: voxnet publish --node NODE [options] [FILE|-]

Validates the VOEvent in FILE (or stdin) and publishes it to NODE; prints the item id.
An invalid packet is not published: each problem is printed as FILE:LINE:COL: field: message.
The item id derives from the IVORN, so publishing the same packet again replaces it.

  --node NODE           node to publish to (required)
  --id ID               item id (default: derived from the IVORN)
  --xsd                 validate with libxml2 against the XML Schema (default: the fast validator)
  --timeout DURATION    how long to wait for the server (default 15s)

${CONNECTION_HELP}`;

export async function publishCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('publish', USAGE, io, async () => {
    const { values, positionals } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      node: { type: 'string' },
      id: { type: 'string' },
      xsd: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (!values.node) throw new UsageError('--node is required');
    if (positionals.length > 1) throw new UsageError('one FILE at a time');
    const file = positionals[0] ?? '-';
    const source = file === '-' ? '<stdin>' : file;
    const timeoutMs = values.timeout ? parseDuration(values.timeout, '--timeout') : 15_000;
    const conn = connectionFrom(values, env);
    // Validate before connecting: an invalid packet never reaches the network.
    const prepared = prepareVOEvent(await readInput(file), source, { engine: values.xsd ? 'xsd' : 'fast' });
    for (const w of prepared.warnings) io.err(formatIssue(w, source));
    const log = createLogger('publish', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? 'warn');
    const agent = await connectAgent({ ...conn, name: 'publish', log, iqTimeoutMs: timeoutMs, servicePingMs: 0 });
    try {
      const r = await publishVOEvent(agent, values.node, prepared, { id: values.id });
      io.out(r.id);
      return 0;
    } finally {
      await agent.stop();
    }
  });
}
