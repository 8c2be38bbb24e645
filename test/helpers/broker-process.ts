/**
 * The broker as people run it, `node bin/voxnet.js broker` configured through
 * VOXNET_* variables, for tests that kill it (SIGKILL) and start it again.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export type BrokerProcessOptions = {
  /** xmpp:// URL of the server's component port. */
  componentUrl: string;
  domain: string;
  secret: string;
  dataDir: string;
  /** More VOXNET_* variables (e.g. VOXNET_POLICY_FILE). */
  env?: Record<string, string>;
  /** Receives the broker's output (stdout and stderr) instead of the test's output. */
  onOutput?: (text: string) => void;
};

/** Start a broker process (nodes under svom.fr are created on demand; warnings and errors go to the test's output). */
export function spawnBroker(o: BrokerProcessOptions): ChildProcess {
  const p = spawn(process.execPath, ['bin/voxnet.js', 'broker'], {
    env: {
      ...process.env,
      VOXNET_XMPP_URL: o.componentUrl,
      VOXNET_DOMAIN: o.domain,
      VOXNET_SECRET: o.secret,
      VOXNET_DATA_DIR: o.dataDir,
      VOXNET_CREATE_NODES: 'svom.fr',
      VOXNET_LOG_LEVEL: 'warn',
      ...o.env,
    },
    stdio: ['ignore', o.onOutput ? 'pipe' : 'inherit', o.onOutput ? 'pipe' : 'inherit'],
  });
  if (o.onOutput) {
    p.stdout!.on('data', (b: Buffer) => o.onOutput!(b.toString()));
    p.stderr!.on('data', (b: Buffer) => o.onOutput!(b.toString()));
  }
  return p;
}

/**
 * Wait until the broker is connected and serving: `answers` asks it something
 * and tells whether it answered as a serving broker does; asked every 100 ms.
 */
export async function waitServing(answers: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await answers()) return;
    if (Date.now() > deadline) throw new Error('broker did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
}
