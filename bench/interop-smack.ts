/**
 * A measurement, not a test: Smack's integration-test framework (Maven Central
 * org.igniterealtime.smack:smack-integration-test, enabledSpecifications=XEP-0060)
 * against the broker on Prosody and, as references, Prosody's and ejabberd's own
 * mod_pubsub. Prints passed / failed / impossible per target.
 *
 *   npx tsx bench/interop-smack.ts [broker] [prosody] [ejabberd]
 *
 * Smack connects to port 5222 (the framework has no port setting): the port must be
 * free. The jars are fetched once with Maven into .voxnet/peers/smack-sint.
 */
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { startServer, componentUrlFor, type ServerKind, type XmppServer } from '../broker-component/servers/index.ts';
import { startBroker, type Broker } from '../broker-component/broker.ts';
import { loadBrokerConfig } from '../broker-component/config.ts';

const SMACK = '4.5.0-beta5';
const DIR = resolve('.voxnet/peers/smack-sint');
const PUBSUB = 'pubsub.svom.fr';

function fetchJars(): string {
  const lib = join(DIR, 'lib');
  if (existsSync(lib) && readdirSync(lib).some((f) => f.startsWith('smack-integration-test'))) return lib;
  mkdirSync(DIR, { recursive: true });
  writeFileSync(join(DIR, 'pom.xml'), `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>smack-sint</artifactId><version>1</version><dependencies>
<dependency><groupId>org.igniterealtime.smack</groupId><artifactId>smack-integration-test</artifactId><version>${SMACK}</version></dependency>
<dependency><groupId>org.igniterealtime.smack</groupId><artifactId>smack-java11-full</artifactId><version>${SMACK}</version></dependency>
</dependencies></project>`);
  const r = spawnSync('mvn', ['-B', '-q', 'dependency:copy-dependencies', `-DoutputDirectory=${lib}`], { cwd: DIR, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('mvn could not fetch Smack');
  return lib;
}

type Result = { passed: number; failed: number; impossible: number; failures: string[]; impossibles: string[]; log: string };

function runSmack(lib: string): Promise<Result> {
  const args = [
    '-cp', `${lib}/*`,
    '-Dsinttest.service=svom.fr', '-Dsinttest.host=127.0.0.1', '-Dsinttest.securityMode=disabled',
    '-Dsinttest.replyTimeout=15000', '-Dsinttest.enabledSpecifications=XEP-0060',
    ...['One', 'Two', 'Three'].flatMap((n) => [`-Dsinttest.account${n}Username=smack${n.toLowerCase()}`, `-Dsinttest.account${n}Password=smack${n.toLowerCase()}`]),
    'org.igniterealtime.smack.inttest.SmackIntegrationTestFramework',
  ];
  return new Promise((res) => {
    const p = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('exit', () => {
      writeFileSync(join(DIR, `last-run.log`), out);
      // The framework's report: one line per test ending ✔ (passed) or naming the failure; then "finished: n/m [k failed]".
      const passed = [...out.matchAll(/^INFO: (\S+) \(Normal\) ✔/gm)].map((m) => m[1]!);
      const failures = [...out.matchAll(/^(?:INFO|SEVERE|WARNING): (\S+) \(Normal\) (?:✖|failed|Failure)/gm)].map((m) => m[1]!);
      const available = Number(/Available tests: (\d+)/.exec(out)?.[1] ?? 0);
      const failed = Number(/finished: \d+\/\d+ \[(\d+) failed\]/.exec(out)?.[1] ?? failures.length);
      res({
        log: out,
        passed: passed.length,
        failed,
        impossible: Math.max(0, available - passed.length - failed),
        failures,
        impossibles: [...out.matchAll(/^INFO: (\S+) \(Normal\) (?:is not possible|not possible)/gim)].map((m) => m[1]!),
      });
    });
  });
}

async function target(name: string, kind: ServerKind, withBroker: boolean, lib: string): Promise<Result> {
  const server: XmppServer = await startServer(kind, {
    c2sPort: 5222,
    ...(withBroker ? { components: [{ domain: PUBSUB, secret: 'smack-secret' }] } : { internalPubsub: [PUBSUB] }),
  });
  let broker: Broker | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'voxnet-smack-'));
  try {
    for (const u of ['smackone', 'smacktwo', 'smackthree']) await server.addUser(u, 'svom.fr', u);
    if (withBroker) {
      const config = loadBrokerConfig(undefined, {
        VOXNET_XMPP_URL: componentUrlFor(server, PUBSUB), VOXNET_DOMAIN: PUBSUB, VOXNET_SECRET: 'smack-secret',
        VOXNET_DATA_DIR: dataDir, VOXNET_CREATE_NODES: 'svom.fr', VOXNET_LOG_LEVEL: 'silent',
      });
      broker = await startBroker(config, { log: pino({ level: 'silent' }) });
    }
    const r = await runSmack(lib);
    const none = /No integration tests selected/.test(r.log) ? ' (the framework found no test possible: the test class needs a pubsub service it can discover and use)' : '';
    console.log(`${name}: ${r.passed} passed / ${r.failed} failed / ${r.impossible} impossible${none}`);
    for (const f of r.failures) console.log(`  failed: ${f}`);
    for (const f of r.impossibles) console.log(`  impossible: ${f}`);
    return r;
  } finally {
    await broker?.stop();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ['broker', 'prosody', 'ejabberd'];
const lib = fetchJars();
for (const t of wanted) {
  if (t === 'broker') await target('VOXnet broker on Prosody', 'prosody', true, lib);
  else if (t === 'prosody') await target("Prosody's mod_pubsub", 'prosody', false, lib);
  else if (t === 'ejabberd') await target("ejabberd's mod_pubsub", 'ejabberd', false, lib);
}
