/** The Kafka gateway's pure parts: how a message is read (a table), GCN schemas, presets, the configuration file. */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, type KafkaMessageIn, type RouteFormat } from '../agents/gateway/kafka/decode.ts';
import { checkGcnNotice } from '../agents/gateway/kafka/gcn-schema.ts';
import { gcnConfig, gcnFormatOf, hopConfig, loadKafkaGatewayConfig, parseHopUrl } from '../agents/gateway/kafka/config.ts';
import { outboundHopId } from '../agents/gateway/kafka/gateway.ts';
import { Refused } from '../agents/gateway/lib/index.ts';
import { ConfigError } from '../agents/lib/index.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const SWIFT = readFileSync(join(FIX, 'voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'));
const EP = readFileSync(join(FIX, 'gcn-json/skyportal-EP240508.json'));
const GW = readFileSync(join(FIX, 'gcn-json/MS181101ab-retraction.json'));
const msg = (value: string | Buffer, headers: KafkaMessageIn['headers'] = {}, offset = '7'): KafkaMessageIn => ({ topic: 't', partition: 0, offset, value: Buffer.from(value), headers });
const outcome = (m: KafkaMessageIn, format?: RouteFormat) => {
  try {
    return decodeMessage(m, { format, maxBytes: 64 * 1024 }).kind;
  } catch (e) {
    if (e instanceof Refused) return `refused: ${e.message.split('\n')[0]}`;
    throw e;
  }
};

describe('how a Kafka message is read', () => {
  it('by the route format, else the _format header, else the bytes', () => {
    const rows: [KafkaMessageIn, string | undefined, RegExp | string][] = [
      [msg(SWIFT), undefined, 'voevent'],
      [msg(SWIFT, { _format: 'voevent' }), undefined, 'voevent'],
      [msg(EP), undefined, 'json'],
      [msg(GW, { _format: 'json' }), undefined, 'gwalert'],
      [msg(GW), 'gwalert', 'gwalert'],
      [msg(EP), 'gwalert', /^refused: not an igwn.gwalert notice/],
      [msg('{"a":1}'), 'gcn-json', /^refused: no \$schema/],
      [msg('{"a":1}', { _format: 'json' }), undefined, 'json'],
      [msg('{"alert_datetime":"2026-12-06T04:00:00Z"}'), 'heartbeat', 'heartbeat'],
      [msg('{"alert_datetime":"soon"}'), 'heartbeat', /^refused: heartbeat without a valid alert_datetime/],
      [msg('<VOEvent'), undefined, /^refused: invalid VOEvent/],
      [msg('{"a":'), undefined, /^refused: not JSON/],
      [msg('[1,2]', { _format: 'json' }), undefined, /^refused: JSON message is not an object/],
      [msg('AAAA', { _format: 'avro' }), undefined, /^refused: unknown _format 'avro'/],
      [msg('hello'), undefined, /^refused: neither XML nor JSON/],
      [msg(''), undefined, /^refused: empty message/],
      [msg(Buffer.alloc(70 * 1024, 32)), undefined, /^refused: message of 71680 bytes is over the limit/],
    ];
    for (const [m, format, want] of rows) {
      const got = outcome(m, format as never);
      if (typeof want === 'string') expect(got, `${m.value!.subarray(0, 30)} ${format}`).toBe(want);
      else expect(got, `${m.value!.subarray(0, 30)} ${format}`).toMatch(want);
    }
  });

  it('gives deterministic ids: IVORN, else _id, else topic/partition/offset', () => {
    const id = Buffer.from('0f8fad5bd9cb469fa16570867728950e', 'hex');
    expect(decodeMessage(msg(SWIFT, {}, '1')).id).toBe(decodeMessage(msg(SWIFT, {}, '2')).id);
    expect(decodeMessage(msg('{"a":1}', { _id: id }, '1')).id).toBe('hop-0f8fad5b-d9cb-469f-a165-70867728950e');
    expect(decodeMessage(msg('{"a":1}', {}, '1')).id).not.toBe(decodeMessage(msg('{"a":1}', {}, '2')).id);
    expect(outboundHopId('n', { id: 'x', ivorn: 'ivo://a#b' })).toEqual(outboundHopId('m', { id: 'y', ivorn: 'ivo://a#b' }));
    expect(outboundHopId('n', { id: 'x' })).toHaveLength(16);
  });

  it('checks GCN notices against the schema their $schema names, from the installed package', () => {
    expect(checkGcnNotice(JSON.parse(EP.toString()))).toMatchObject({ ok: true, path: 'gcn/notices/einstein_probe/wxt/alert.schema.json' });
    expect(checkGcnNotice({ $schema: 'https://gcn.nasa.gov/schema/v9.9.9/gcn/notices/nothing.schema.json' })).toMatchObject({ ok: false, reason: /no such schema/ });
    expect(checkGcnNotice({ $schema: 'https://example.org/x.json' })).toMatchObject({ ok: false, reason: /not a GCN Unified Schema URL/ });
  });
});

describe('presets and configuration', () => {
  it('GCN: topics → nodes and formats by GCN conventions, OIDC from the domain', () => {
    expect(['gcn.heartbeat', 'igwn.gwalert', 'gcn.classic.voevent.FERMI_GBM_FLT_POS', 'gcn.notices.svom.voevent.grm', 'gcn.notices.icecube.lvk_nu_track_search', 'other'].map(gcnFormatOf))
      .toEqual(['heartbeat', 'gwalert', 'voevent', 'voevent', 'gcn-json', 'auto']);
    const c = gcnConfig({ gateway: 'gcn', clientId: 'abc', clientSecret: 's', domain: 'test.gcn.nasa.gov', topics: ['igwn.gwalert=lvk/alerts', 'gcn.heartbeat'], from: 'latest', nodePrefix: 'gcn/', heartbeatNode: 'gcn/hb' }, '/s');
    expect(c.kafka).toMatchObject({ brokers: ['kafka.test.gcn.nasa.gov:9092'], tls: true, sasl: { mechanism: 'oauthbearer', token_url: 'https://auth.test.gcn.nasa.gov/oauth2/token', client_id: 'abc' } });
    expect(c.inbound).toEqual([{ topics: ['igwn.gwalert'], node: 'lvk/alerts', format: 'gwalert' }, { topics: ['gcn.heartbeat'], node: 'gcn/hb', format: 'heartbeat' }]);
    expect(c.group).toMatch(/^abc-/);
  });

  it('Hopskotch: kafka:// URLs as hop-client writes them', () => {
    expect(parseHopUrl('kafka://user@kafka.scimma.org/a,b')).toEqual({ brokers: ['kafka.scimma.org:9092'], topics: ['a', 'b'], username: 'user' });
    expect(() => parseHopUrl('http://x/y')).toThrow(/not a Hopskotch URL/);
    const c = hopConfig({ gateway: 'hop', url: 'kafka://u@h:9093/t', node: 'n', direction: 'out', noAuth: false, tls: true, from: 'latest' }, '/s');
    expect(c).toMatchObject({ inbound: [], outbound: [{ node: 'n', topic: 't' }], kafka: { brokers: ['h:9093'], sasl: { mechanism: 'scram-sha-512', username: 'u' } } });
    expect(() => hopConfig({ gateway: 'hop', url: 'kafka://h/t', node: 'n', direction: 'in', noAuth: false, tls: false, from: 'latest' }, '/s')).toThrow(/needs a username/);
  });

  it('loads the example configuration, and names the key of a mistake', () => {
    const c = loadKafkaGatewayConfig(join(import.meta.dirname, '../config/gateway-kafka.example.yaml'), '/s');
    expect(c.inbound[1]).toEqual({ pattern: '^lvk\\..*', node: 'lvk/alerts' });
    expect(c.seen_ttl_ms).toBe(7 * 24 * 3600_000);
    const bad = join(mkdtempSync(join(tmpdir(), 'voxnet-gw-cfg-')), 'bad.yaml');
    writeFileSync(bad, 'gateway: g\nkafka: { brokers: [nohost] }\ninbound: [{ node: n }]\nfrom: yesterday\n');
    try {
      loadKafkaGatewayConfig(bad, '/s');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toMatch(/kafka\.brokers\[0\]|brokers/);
      expect((e as Error).message).toMatch(/from: must be earliest, latest or an ISO 8601 time/);
    }
  });
});
