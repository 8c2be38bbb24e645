/** `voxnet doctor`: check a deployment from outside; one line per check, the fix under each failure. */
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, parseCommandLine, parseDuration } from '../lib/options.ts';
import { runCommand, stdio, type CliIO } from '../lib/command.ts';
import { runDoctor, type Verdict } from './doctor.ts';

const USAGE = `usage: voxnet doctor [options]

Checks a VOXnet deployment from outside, as a user would: the server is reachable,
the account logs in (TLS, password), the pubsub component answers, the fan-out path
(an XEP-0033 multicast service), a test publish comes back as a notification, and the
clock skew with the server. Prints what is wrong and how to fix it. Exit status: the
number of failed checks (warnings do not count).

  --test-node NODE      node for the round-trip publish (default voxnet/doctor; created if missing)
  --metrics URL         the broker's metrics, e.g. http://127.0.0.1:9464/metrics (fan-out path it chose)
  --timeout DURATION    per check (default 10s)

${CONNECTION_HELP}`;

const MARK: Record<Verdict['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

export async function doctorCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('doctor', USAGE, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      'test-node': { type: 'string', default: 'voxnet/doctor' },
      metrics: { type: 'string' },
      timeout: { type: 'string', default: '10s' },
      help: { type: 'boolean', short: 'h' },
    }, false);
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (values.metrics !== undefined && !/^https?:\/\//.test(values.metrics)) throw new UsageError(`--metrics '${values.metrics}' is not an http(s) URL`);
    const verdicts = await runDoctor(
      { connection: connectionFrom(values, env), testNode: values['test-node']!, metricsUrl: values.metrics, timeoutMs: parseDuration(values.timeout!, '--timeout') },
      (v) => {
        io.out(`${MARK[v.status]}  ${v.check}: ${v.detail}`);
        if (v.fix) io.out(`      fix: ${v.fix}`);
      },
    );
    const failed = verdicts.filter((v) => v.status === 'fail').length;
    const warned = verdicts.filter((v) => v.status === 'warn').length;
    io.out(failed || warned ? `${failed} failed, ${warned} warnings` : 'all checks passed');
    return failed;
  });
}
