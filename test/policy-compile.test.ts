/**
 * The access policy as pure code: loading with file:line errors, compiling to
 * nodes / configurations / affiliations / transforms, and `who` answering with
 * the broker's own decide().
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile, parsePolicy } from '../access-policy/load.ts';
import { ConfigError } from '../common/config.ts';
import { compile, nodeId } from '../access-policy/compile.ts';
import { VOEVENT_NS } from '../common/ns.ts';
import { who } from '../access-policy/who.ts';
import { policyCommand } from '../access-policy/cli.ts';
import type { DesiredNode, DesiredState, Policy } from '../access-policy/types.ts';

const EXAMPLE = 'config/policy.example.yaml';

const SMALL = `
version: 1
mission: SVOM
groups:
  advocates: [ba@svom.fr]
levels:
  - id: burst-advocates
    members: { groups: [advocates] }
  - id: collaboration
    title: SVOM collaboration
    members: { domains: [svom.fr], jids: [wei@svom.cn] }
  - id: community
    members: { jids: [comm@svom.cn] }
  - id: public
    public: true
outcasts:
  jids: [banned@svom.cn]
products:
  - id: eclairs
    title: ECLAIRs
    publishers: [fsc@svom.fr]
    max_items: 50
    levels:
      burst-advocates: {}
      collaboration:
      community:
        embargo: 30m
        redact: { groups: [Satellite_Info] }
      public:
        embargo: 3600
        history: false
        redact: { position_precision_deg: 1 }
`;

const node = (s: DesiredState, id: string): DesiredNode => {
  const n = s.nodes.find((x) => x.id === id);
  if (!n) throw new Error(`no node ${id} in ${s.nodes.map((x) => x.id).join(', ')}`);
  return n;
};

/** Errors of a policy text, as "line: message" strings. */
function errorsOf(text: string): string[] {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message.split('\n');
  }
  throw new Error('policy was accepted');
}

describe('compile', () => {
  const policy = parsePolicy(SMALL, 'small.yaml');
  const state = compile(policy, { service: 'pubsub.svom.fr' });

  it('makes one source node per product and one node per product and level, named <product>/<level>', () => {
    expect(state.nodes.map((n) => n.id)).toEqual(['eclairs/source', 'eclairs/burst-advocates', 'eclairs/collaboration', 'eclairs/community', 'eclairs/public']);
    expect(nodeId({ node_prefix: 'svom/' }, 'mxt', 'public')).toBe('svom/mxt/public');
    expect(nodeId({}, 'mxt')).toBe('mxt/source');
  });

  it('source node: whitelist, publishers are publishers, the service owns it, outcasts are outcast', () => {
    const src = node(state, 'eclairs/source');
    expect(src.kind).toBe('source');
    expect(src.affiliations).toEqual({ 'pubsub.svom.fr': 'owner', 'fsc@svom.fr': 'publisher', 'banned@svom.cn': 'outcast' });
    expect(src.config).toMatchObject({ access_model: 'whitelist', publish_model: 'publishers', type: VOEVENT_NS, max_items: 50, history: true, notify_retract: true, deliver_notifications: true });
  });

  it('a level node admits its members and every higher level (cumulative), publishers read-only, outcasts banned', () => {
    expect(node(state, 'eclairs/burst-advocates').affiliations).toEqual({
      'pubsub.svom.fr': 'owner', 'banned@svom.cn': 'outcast', 'ba@svom.fr': 'member', 'fsc@svom.fr': 'member',
    });
    expect(node(state, 'eclairs/collaboration').affiliations).toEqual({
      'pubsub.svom.fr': 'owner', 'banned@svom.cn': 'outcast', 'ba@svom.fr': 'member', 'svom.fr': 'member', 'wei@svom.cn': 'member', 'fsc@svom.fr': 'member',
    });
    expect(node(state, 'eclairs/community').affiliations).toMatchObject({ 'comm@svom.cn': 'member', 'svom.fr': 'member', 'ba@svom.fr': 'member' });
    for (const n of state.nodes) expect(Object.values(n.affiliations).filter((a) => a === 'publisher').length, n.id).toBe(n.kind === 'source' ? 1 : 0);
  });

  it('the public level is open and needs no members; history and embargo are per level', () => {
    const pub = node(state, 'eclairs/public');
    expect(pub.config.access_model).toBe('open');
    expect(pub.config.history).toBe(false);
    expect(pub.affiliations).toEqual({ 'pubsub.svom.fr': 'owner', 'banned@svom.cn': 'outcast', 'fsc@svom.fr': 'member' });
    for (const id of ['eclairs/burst-advocates', 'eclairs/collaboration', 'eclairs/community']) expect(node(state, id).config.access_model).toBe('whitelist');
    expect(node(state, 'eclairs/collaboration').config.title).toBe('SVOM ECLAIRs — SVOM collaboration');
  });

  it('transforms: one per product and level, embargo in seconds, redaction only where asked', () => {
    expect(state.transforms).toEqual([
      { product: 'eclairs', level: 'burst-advocates', source: 'eclairs/source', target: 'eclairs/burst-advocates', embargoSeconds: 0, history: true },
      { product: 'eclairs', level: 'collaboration', source: 'eclairs/source', target: 'eclairs/collaboration', embargoSeconds: 0, history: true },
      { product: 'eclairs', level: 'community', source: 'eclairs/source', target: 'eclairs/community', embargoSeconds: 1800, history: true, redaction: { groups: ['Satellite_Info'] } },
      { product: 'eclairs', level: 'public', source: 'eclairs/source', target: 'eclairs/public', embargoSeconds: 3600, history: false, redaction: { position_precision_deg: 1 } },
    ]);
  });

  it('levels that do not receive a product get no node for it', () => {
    const p = parsePolicy(SMALL.replace('      burst-advocates: {}\n', ''), 'x');
    expect(compile(p).nodes.map((n) => n.id)).not.toContain('eclairs/burst-advocates');
    // …but burst advocates still read the collaboration node (levels are cumulative)
    expect(node(compile(p), 'eclairs/collaboration').affiliations['ba@svom.fr']).toBe('member');
  });

  it('is pure: the same policy gives the same state, the input is not touched, no service means no owner entry', () => {
    const copy = JSON.parse(JSON.stringify(policy)) as Policy;
    expect(compile(policy, { service: 'pubsub.svom.fr' })).toEqual(state);
    expect(policy).toEqual(copy);
    expect(Object.values(node(compile(policy), 'eclairs/source').affiliations)).not.toContain('owner');
  });

  it('keeps the reason of every affiliation for audit lines', () => {
    const c = node(state, 'eclairs/collaboration');
    expect(c.reasons).toMatchObject({ 'ba@svom.fr': 'level burst-advocates, group advocates', 'svom.fr': 'level collaboration, by domain', 'wei@svom.cn': 'level collaboration, by JID', 'fsc@svom.fr': 'publisher of eclairs' });
  });
});

describe('the example policy (config/policy.example.yaml)', () => {
  const { policy } = loadPolicyFile(EXAMPLE);
  const state = compile(policy, { service: 'pubsub.svom.fr' });

  it('models SVOM: six ordered levels, five products, prefixed node names', () => {
    expect(state.levels.map((l) => l.id)).toEqual(['burst-advocates', 'pi', 'collaboration', 'associates', 'community', 'public']);
    expect([...new Set(state.nodes.map((n) => n.product))]).toEqual(['eclairs', 'grm', 'mxt', 'vt', 'ground-follow-up']);
    expect(state.nodes.map((n) => n.id)).toContain('svom/eclairs/public');
    expect(state.nodes.every((n) => n.id.startsWith('svom/'))).toBe(true);
    expect(node(state, 'svom/eclairs/collaboration').affiliations).toMatchObject({ 'svom.fr': 'member', 'svom.cn': 'member' });
  });

  it('works with the quick start accounts (alice publishes, bob is collaboration, carol community)', () => {
    expect(who(state, 'alice@svom.fr').publishes).toEqual(['eclairs', 'grm', 'mxt', 'vt', 'ground-follow-up']);
    expect(who(state, 'bob@svom.cn').levels.map((l) => l.level)).toEqual(['collaboration', 'public']);
    expect(who(state, 'carol@example.org').levels.map((l) => l.level)).toEqual(['community', 'public']);
  });
});

describe('loading: clear errors with file:line', () => {
  it('reports unknown keys, bad JIDs and bad embargoes where they are', () => {
    const text = [
      'version: 1', //                                   1
      'levels:', //                                      2
      '  - id: pi', //                                   3
      '    memebrs: { jids: [pi@svom.fr] }', //          4
      '  - id: everyone', //                             5
      '    public: true', //                             6
      'products:', //                                    7
      '  - id: eclairs', //                              8
      '    publishers: [not-a-jid]', //                  9
      '    levels:', //                                 10
      '      pi: { embargo: 5 minutes }', //            11
    ].join('\n');
    const errs = errorsOf(text);
    expect(errs).toContain('p.yaml:4:5: levels[0].memebrs: is not a known key');
    expect(errs).toContain('p.yaml:9:18: products[0].publishers[0]: must be a bare JID (user@domain)');
    expect(errs.find((e) => e.startsWith('p.yaml:11:'))).toMatch(/products\[0\]\.levels\.pi\.embargo: must be a number of seconds .* 30m/);
    expect(errs).toHaveLength(3);
  });

  it('reports what a schema cannot see: unknown levels and groups, duplicates, public not last, contradictions', () => {
    const errs = errorsOf(`version: 1
groups: { a: [x@svom.fr] }
levels:
  - id: everyone
    public: true
  - id: pi
    members: { groups: [b], jids: [banned@svom.cn] }
  - id: pi
outcasts: { jids: [banned@svom.cn] }
products:
  - id: eclairs
    publishers: [fsc@svom.fr]
    levels: { nobody: {} }
`);
    expect(errs).toEqual([
      'p.yaml:5:13: levels[0].public: the public level "everyone" must be the last (lowest) level',
      'p.yaml:7:25: levels[1].members.groups[0]: unknown group "b" (define it under groups:)',
      'p.yaml:8:9: levels[2].id: level "pi" is defined twice',
      'p.yaml:13:15: products[0].levels.nobody: unknown level "nobody" (levels are everyone, pi)',
      'p.yaml:7:5: levels[1].members: banned@svom.cn is both an outcast and a member of level "pi"',
    ]);
  });

  it('reports YAML syntax errors and missing keys with their line', () => {
    expect(errorsOf('version: 1\nlevels: [\n')[0]).toMatch(/^p\.yaml:3:1: /);
    expect(errorsOf('version: 1\nlevels: [{ id: a }]\n')).toEqual(['p.yaml:1:1: products: is required']);
    expect(errorsOf('- a\n- b\n')).toEqual(['p.yaml:1:1: the policy must be a mapping with version, levels and products']);
    expect(errorsOf('version: 2\nlevels: [{ id: a }]\nproducts: [{ id: p, publishers: [a@b.c], levels: { a: {} } }]\n')).toEqual(['p.yaml:1:10: version: must be 1']);
  });

  it('an unreadable file is a ConfigError naming the file', () => {
    expect(() => loadPolicyFile('/nonexistent/policy.yaml')).toThrow(/\/nonexistent\/policy\.yaml: cannot read: ENOENT/);
  });
});

describe('who: what a JID may see and do, from the broker\'s own decide()', () => {
  const state = compile(parsePolicy(SMALL, 'small.yaml'), { service: 'pubsub.svom.fr' });
  const allowed = (jid: string, op: 'subscribe' | 'retrieve-items' | 'publish' | 'purge' | 'configure', opts = {}) =>
    who(state, jid, opts).nodes.filter((n) => n.may[op].allow).map((n) => n.node);

  it('levels: by JID, by domain, by group; public is everyone but outcasts', () => {
    expect(who(state, 'ba@svom.fr/laptop').levels).toEqual([
      { level: 'burst-advocates', title: 'burst-advocates', via: 'group advocates' },
      { level: 'collaboration', title: 'SVOM collaboration', via: 'domain svom.fr' },
      { level: 'public', title: 'public', via: 'everyone' },
    ]);
    expect(who(state, 'wei@svom.cn').levels.map((l) => `${l.level}:${l.via}`)).toEqual(['collaboration:jid', 'public:everyone']);
    expect(who(state, 'banned@svom.cn')).toMatchObject({ levels: [], outcast: 'banned@svom.cn' });
  });

  it('subscribe: own level and below; history: not on history-off nodes; publish: only publishers on the source', () => {
    expect(allowed('ba@svom.fr', 'subscribe')).toEqual(['eclairs/burst-advocates', 'eclairs/collaboration', 'eclairs/community', 'eclairs/public']);
    expect(allowed('anyone@svom.fr', 'subscribe')).toEqual(['eclairs/collaboration', 'eclairs/community', 'eclairs/public']);
    expect(allowed('comm@svom.cn', 'subscribe')).toEqual(['eclairs/community', 'eclairs/public']);
    expect(allowed('stranger@svom.cn', 'subscribe')).toEqual(['eclairs/public']);
    expect(allowed('banned@svom.cn', 'subscribe')).toEqual([]);
    expect(allowed('stranger@svom.cn', 'retrieve-items')).toEqual([]);
    expect(allowed('fsc@svom.fr', 'publish')).toEqual(['eclairs/source']);
    expect(allowed('fsc@svom.fr', 'purge')).toEqual(['eclairs/source']);
    expect(allowed('fsc@svom.fr', 'configure')).toEqual([]);
    expect(allowed('boss@svom.fr', 'configure', { admins: ['boss@svom.fr'] })).toHaveLength(5);
  });

  it('refusals carry the XEP-0060 error decide() gives', () => {
    const r = who(state, 'stranger@svom.cn');
    const get = (id: string) => r.nodes.find((n) => n.node === id)!;
    expect(get('eclairs/collaboration').may.subscribe).toMatchObject({ allow: false, condition: 'not-allowed', pubsub: 'closed-node' });
    expect(get('eclairs/public').may['retrieve-items']).toMatchObject({ allow: false, condition: 'forbidden', reason: 'history off' });
    expect(get('eclairs/public')).toMatchObject({ affiliation: 'none', embargoSeconds: 3600, history: false, redaction: { position_precision_deg: 1 } });
    expect(who(state, 'banned@svom.cn').nodes.every((n) => n.may.subscribe.condition === 'forbidden')).toBe(true);
  });
});

describe('voxnet policy (CLI)', () => {
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const log = console.log;
    const error = console.error;
    console.log = (...a: unknown[]) => void out.push(a.join(' '));
    console.error = (...a: unknown[]) => void err.push(a.join(' '));
    try {
      return { code: await policyCommand(argv), out: out.join('\n'), err: err.join('\n') };
    } finally {
      console.log = log;
      console.error = error;
    }
  }

  it('check prints the compiled nodes and affiliations', async () => {
    const r = await run(['check', EXAMPLE, '--service', 'pubsub.svom.fr']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('config/policy.example.yaml: valid — 6 levels, 5 products, 30 nodes');
    expect(r.out).toMatch(/svom\/eclairs\/public {2}\[open, max_items max, history off\]/);
    expect(r.out).toMatch(/from svom\/eclairs\/source after 1h, without groups Satellite_Info, Target_Info; position to 1°/);
    expect(r.out).toMatch(/publisher +fsc@svom\.fr, alice@svom\.fr/);
    const json = JSON.parse((await run(['check', EXAMPLE, '--json'])).out) as DesiredState;
    expect(json.nodes).toHaveLength(30);
  });

  it('check refuses a bad file with status 2 and file:line errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-policy-'));
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'version: 1\nlevels: [{ id: a, colour: red }]\nproducts: []\n');
    const r = await run(['check', f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${f}:2:19: levels[0].colour: is not a known key`);
  });

  it('who prints levels and the nodes a JID may use', async () => {
    const r = await run(['who', 'bob@svom.cn', '--policy', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('levels: collaboration (domain svom.cn), public (everyone)');
    expect(r.out).toMatch(/svom\/eclairs\/collaboration +member +yes/);
    expect(r.out).not.toMatch(/svom\/eclairs\/burst-advocates/);
    const j = JSON.parse((await run(['who', 'spammer@example.net', '--policy', EXAMPLE, '--json'])).out);
    expect(j.outcast).toBe('spammer@example.net');
  });
});
