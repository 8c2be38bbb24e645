/** Shared pieces for the telescope agent tests: real packets, sites, rules. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, type VOEvent } from '../voevent/index.ts';
import { rulesFromObject, type Rules } from '../agents/telescope/rules.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'voevents');

export const PACKETS = {
  swiftBat: 'skyportal__SWIFT_1125809-092__BAT_GRB_Pos.xml',
  swiftXrt: 'skyportal__SWIFT_1125809-104__XRT_Pos.xml',
  swiftBatTest: 'gcn-notice-parser__swift_bat_grb_pos_test_9264.xml',
  svomWakeup: 'gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml',
  svomSlewing: 'gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml',
  svomWakeupRetracted: 'gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml',
  svomRetraction: 'gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml',
  fermiAlert: 'gcn-notice-parser__fermi_gbm_alert_3785__trig792135758.xml',
  fermiFlt: 'gcn-notice-parser__fermi_gbm_flt_pos_8126__trig792135758.xml',
  fermiFin: 'gcn-notice-parser__fermi_gbm_fin_pos_982__trig792135758.xml',
  lvkEarly: 'MS181101ab-1-EarlyWarning.xml',
  lvkPrelim: 'MS181101ab-2-Preliminary.xml',
  lvkRetraction: 'MS181101ab-5-Retraction.xml',
} as const;

export function packetXml(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}

export function packet(name: string): VOEvent {
  return parse(packetXml(name));
}

/** Observatory sites (coordinates from the observatories' published positions). */
export const SITES = {
  kittPeak: { name: 'Kitt Peak', latitude: 31.9583, longitude: -111.5967, elevation: 2096 },
  laPalma: { name: 'Roque de los Muchachos', latitude: 28.7606, longitude: -17.8816, elevation: 2326 },
  laSilla: { name: 'La Silla', latitude: -29.2563, longitude: -70.738, elevation: 2347 },
  sidingSpring: { name: 'Siding Spring', latitude: -31.2733, longitude: 149.0711, elevation: 1116 },
  xinglong: { name: 'Xinglong', latitude: 40.3956, longitude: 117.5749, elevation: 900 },
} as const;

/** The rules document the tests start from (YAML keys), with overrides merged one level deep. */
export function rulesDoc(over: Record<string, any> = {}): Record<string, any> {
  const base: Record<string, any> = {
    telescope: { name: 'T1', author_ivorn: 'ivo://voxnet.test/telescope/T1' },
    site: SITES.kittPeak,
    subscribe: { nodes: ['alerts'], status_node: 'telescope/status' },
    accept: {
      streams: [
        { stream: 'ivo://org.svom/fsc', packet_types: [202, 204, 209] },
        { stream: 'ivo://nasa.gsfc.gcn/SWIFT', packet_types: [61, 67] },
        { stream: 'ivo://nasa.gsfc.gcn/Fermi', packet_types: [110, 111, 112, 115], max_error_radius: 5 },
        'ivo://gwnet/LVC',
      ],
      max_error_radius: 0.5,
      min_importance: 0.5,
    },
    observability: { max_airmass: 2, max_sun_altitude: -12, min_moon_distance: 30, dec_min: -60, dec_max: 90, window: { end: '12h' }, step: '5m' },
    request: { proposal: 'TEST2026A-001', instrument_type: '1M0-SCICAM-SINISTRO', telescope_class: '1m0', exposures: [{ filter: 'rp', exposure_time: 60, exposure_count: 3 }] },
    action: { type: 'http', url: 'http://127.0.0.1:9/api/requestgroups/', retry: { attempts: 3, initial: '10ms', max: '40ms' } },
  };
  for (const [k, v] of Object.entries(over)) base[k] = k !== 'action' && v && typeof v === 'object' && !Array.isArray(v) && base[k] ? { ...base[k], ...v } : v;
  return base;
}

export function rules(over: Record<string, any> = {}): Rules {
  return rulesFromObject(rulesDoc(over), 'test-rules');
}

/** A packet derived from a real one (documented in the test that uses it). */
export function derive(ev: VOEvent, change: (e: VOEvent) => void): VOEvent {
  const copy = structuredClone(ev);
  change(copy);
  return copy;
}
