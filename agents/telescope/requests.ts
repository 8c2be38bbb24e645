/**
 * Observation requests shaped like the Las Cumbres Observatory observation-portal
 * request group (POST /api/requestgroups/): name, proposal, ipp_value, operator,
 * observation_type, and requests each with configurations (ICRS target,
 * constraints max_airmass / min_lunar_distance, instrument configs) and windows.
 */
import type { Decision } from './decide.ts';
import { airmass } from './visibility.ts';
import type { Rules } from './rules.ts';

export interface IcrsTarget {
  name: string;
  type: 'ICRS';
  ra: number;
  dec: number;
  epoch: 2000;
}

export interface RequestConfiguration {
  type: string;
  instrument_type: string;
  target: IcrsTarget;
  constraints: { max_airmass: number; min_lunar_distance: number };
  instrument_configs: { exposure_time: number; exposure_count: number; mode?: string; optical_elements?: { filter: string } }[];
  acquisition_config: { mode: string };
  guiding_config: { mode: string; optional: boolean };
}

export interface LcoRequest {
  configurations: RequestConfiguration[];
  windows: { start: string; end: string }[];
  location?: { telescope_class: string };
  acceptability_threshold?: number;
}

export interface RequestGroup {
  name: string;
  proposal: string;
  ipp_value: number;
  operator: 'SINGLE';
  observation_type: 'RAPID_RESPONSE' | 'NORMAL';
  requests: LcoRequest[];
}

/** Largest airmass LCO accepts in a request; our altitude limit maps onto it. */
const LCO_MAX_AIRMASS = 20;

const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Request group names: ≤ 50 characters (the portal's limit), no spaces at the ends. */
function requestName(prefix: string, targetName: string): string {
  const s = `${prefix} ${targetName}`.replace(/\s+/g, ' ').trim();
  return s.length <= 50 ? s : s.slice(0, 50).trim();
}

/** The request group for a trigger / schedule / update decision. */
export function buildRequestGroup(d: Decision, rules: Rules): RequestGroup {
  if (!d.target || !d.window || !d.observationType) throw new Error(`no request for a ${d.action} decision`);
  const ob = rules.observability;
  const rq = rules.request;
  const maxAirmass = ob.maxAirmass ?? Math.min(LCO_MAX_AIRMASS, Number(airmass(ob.minAltitude).toFixed(3)));
  const request: LcoRequest = {
    configurations: [
      {
        type: rq.configurationType,
        instrument_type: rq.instrumentType,
        target: { name: d.target.name, type: 'ICRS', ra: d.target.ra, dec: d.target.dec, epoch: 2000 },
        constraints: { max_airmass: maxAirmass, min_lunar_distance: ob.minMoonDistance },
        instrument_configs: rq.instrumentConfigs.map((c) => ({
          exposure_time: c.exposureTime,
          exposure_count: c.exposureCount,
          ...(c.mode ? { mode: c.mode } : {}),
          ...(c.filter ? { optical_elements: { filter: c.filter } } : {}),
        })),
        acquisition_config: { mode: 'OFF' },
        guiding_config: { mode: 'ON', optional: true },
      },
    ],
    windows: [{ start: isoSeconds(d.window.start), end: isoSeconds(d.window.end) }],
  };
  if (rq.telescopeClass) request.location = { telescope_class: rq.telescopeClass };
  if (rq.acceptabilityThreshold !== undefined) request.acceptability_threshold = rq.acceptabilityThreshold;
  return {
    name: requestName(rq.namePrefix, d.target.name),
    proposal: rq.proposal,
    ipp_value: rq.ipp_value,
    operator: 'SINGLE',
    observation_type: d.observationType,
    requests: [request],
  };
}
