/**
 * `voxnet policy check FILE` — validate a policy, print the compiled nodes and affiliations.
 * `voxnet policy who JID`    — what this JID may see and do under a policy.
 */
import { parseArgs } from 'node:util';
import { compile } from './compile.ts';
import { loadPolicyFile } from './load.ts';
import { ConfigError } from '../common/config.ts';
import { who, type WhoOperation, type WhoReport } from './who.ts';
import { describeRedaction, duration } from './describe.ts';
import type { DesiredState, Transform } from './types.ts';
import type { Affiliation } from '../pubsub/types.ts';

const USAGE = `usage:
  voxnet policy check FILE [--service JID] [--json]
      validate the policy and print the nodes, configurations and affiliations it compiles to
  voxnet policy who JID [--policy FILE | --config BROKER.yaml] [--admin JID]... [--json]
      what JID may see and do (the policy file defaults to the broker configuration's
      policy_file, or $VOXNET_POLICY_FILE)`;

/** What `who --config` needs from a broker configuration file (the broker's loader, given by the `voxnet` entry point). */
export type BrokerSettings = { policy_file?: string; admins: string[]; domain: string };
export type PolicyCliDeps = { loadBrokerConfig?: (file: string) => BrokerSettings };

export async function policyCommand(argv: string[], deps: PolicyCliDeps = {}): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    console.log(USAGE);
    return sub ? 0 : 2;
  }
  try {
    if (sub === 'check') return check(rest);
    if (sub === 'who') return await whoCommand(rest, deps);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`voxnet policy: invalid policy\n${e.message}`);
      return 2;
    }
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`voxnet policy: ${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  console.error(`voxnet policy: unknown subcommand '${sub}'\n${USAGE}`);
  return 2;
}

function check(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { service: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const file = positionals[0]!;
  const { policy } = loadPolicyFile(file);
  const state = compile(policy, { service: values.service });
  if (values.json) {
    console.log(JSON.stringify(state, (_k, v) => (v === Infinity ? 'max' : v), 2));
    return 0;
  }
  console.log(formatState(file, state));
  return 0;
}

function delivery(t: Transform): string {
  return `from ${t.source} ${duration(t.embargoSeconds)}, ${describeRedaction(t.redaction)}`;
}

export function formatState(file: string, state: DesiredState): string {
  const out: string[] = [];
  const products = new Set(state.nodes.map((n) => n.product));
  out.push(`${file}: valid — ${state.levels.length} levels, ${products.size} products, ${state.nodes.length} nodes`);
  out.push('', 'levels (highest first; each level also sees what the levels below it see):');
  for (const l of state.levels) {
    const who = l.public ? 'everyone' : l.members.length ? l.members.map((m) => (m.via === 'jid' ? m.entity : `${m.entity} (${m.via})`)).join(', ') : '(nobody yet)';
    out.push(`  ${String(l.rank + 1).padStart(2)}. ${l.id.padEnd(18)} ${l.title}: ${who}`);
  }
  if (state.outcasts.length) out.push(`  outcasts: ${state.outcasts.join(', ')}`);
  const byTarget = new Map(state.transforms.map((t) => [t.target, t]));
  out.push('', 'nodes:');
  for (const n of state.nodes) {
    const c = n.config;
    out.push(`  ${n.id}  [${c.access_model}, max_items ${c.max_items === Infinity ? 'max' : c.max_items}${c.max_age ? `, max_age ${c.max_age}s` : ''}, history ${c.history ? 'on' : 'off'}] "${c.title}"`);
    const t = byTarget.get(n.id);
    if (t) out.push(`      ${delivery(t)}`);
    else out.push('      publishers publish here; each level node below is derived from it');
    const by = new Map<Affiliation, string[]>();
    for (const [e, a] of Object.entries(n.affiliations)) by.set(a, [...(by.get(a) ?? []), e]);
    for (const a of ['owner', 'publisher', 'member', 'outcast'] as const) {
      const list = by.get(a);
      if (list) out.push(`      ${a.padEnd(9)} ${list.join(', ')}`);
    }
  }
  return out.join('\n');
}

async function whoCommand(argv: string[], deps: PolicyCliDeps): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      policy: { type: 'string', short: 'p' },
      config: { type: 'string', short: 'c' },
      admin: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  let file = values.policy;
  let admins = values.admin ?? [];
  let service: string | undefined;
  if (!file && values.config) {
    if (!deps.loadBrokerConfig) throw new Error('--config needs the broker configuration loader (run it as voxnet policy who)');
    const cfg = deps.loadBrokerConfig(values.config);
    file = cfg.policy_file;
    admins = [...admins, ...cfg.admins];
    service = cfg.domain;
    if (!file) {
      console.error(`voxnet policy: ${values.config} names no policy_file`);
      return 2;
    }
  }
  file ??= process.env.VOXNET_POLICY_FILE;
  if (!file) {
    console.error(`voxnet policy who: which policy? give --policy FILE or --config BROKER.yaml\n${USAGE}`);
    return 2;
  }
  const { policy } = loadPolicyFile(file);
  const report = who(compile(policy, { service }), positionals[0]!, { admins });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatWho(report));
  return 0;
}

const COLUMNS: [WhoOperation, string][] = [
  ['subscribe', 'subscribe'],
  ['retrieve-items', 'history'],
  ['publish', 'publish'],
  ['retract-any', 'retract'],
  ['purge', 'purge'],
  ['configure', 'configure'],
  ['modify-affiliations', 'affiliations'],
  ['delete-node', 'delete'],
];

export function formatWho(r: WhoReport): string {
  const out: string[] = [r.jid];
  if (r.outcast) out.push(`  OUTCAST (${r.outcast === r.jid ? 'by JID' : `domain ${r.outcast}`}): refused everywhere`);
  if (r.admin) out.push('  service admin: owner of every node');
  out.push(`  levels: ${r.levels.length ? r.levels.map((l) => `${l.level} (${l.via})`).join(', ') : 'none'}`);
  if (r.publishes.length) out.push(`  publishes: ${r.publishes.join(', ')}`);
  const visible = r.nodes.filter((n) => COLUMNS.some(([op]) => n.may[op].allow));
  const width = Math.max(4, ...visible.map((n) => n.node.length));
  if (visible.length) {
    out.push('', `  ${'node'.padEnd(width)}  ${'affiliation'.padEnd(11)}  ${COLUMNS.map(([, h]) => h).join('  ')}`);
    for (const n of visible) {
      const cells = COLUMNS.map(([op, h]) => (n.may[op].allow ? 'yes' : '-').padEnd(h.length)).join('  ');
      let note = '';
      if (n.kind === 'level') note = `  ${duration(n.embargoSeconds ?? 0)}, ${describeRedaction(n.redaction)}`;
      out.push(`  ${n.node.padEnd(width)}  ${n.affiliation.padEnd(11)}  ${cells}${note}`);
    }
  }
  const hidden = r.nodes.length - visible.length;
  if (hidden) out.push('', `  no access to ${hidden} other node(s) (${[...new Set(r.nodes.filter((n) => !visible.includes(n)).map((n) => n.may.subscribe.pubsub ?? n.may.subscribe.condition))].join(', ')})`);
  return out.join('\n');
}
