/**
 * What the crossmatch agent reads from an alert item: the alert itself (a
 * VOEvent, or an igwn.gwalert JSON notice, bare or inside an XML element such
 * as XEP-0335's <json xmlns="urn:xmpp:json:0">), whether it retracts earlier
 * alerts, which event it is about (so that updates replace the result and
 * retractions withdraw it), and where its localisation is: the base64 sky map
 * of a JSON notice, a sky-map URL Param of a VOEvent (fetched over HTTP), or a
 * VOEvent Position2D with Error2Radius (an error circle).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { CircleLocalisation, GwAlert, LocalisationInput } from '../../sky/index.ts';
import {
  allParams, factsOfJson, factsOfVOEvent, fromElement, lvk, missionSummary, parse, streamId, VOEventParseError,
  type VOEvent, type XmlElement,
} from '../../voevent/index.ts';
import { localName, textOf } from '../../common/xml.ts';

export const JSON_NS = 'urn:xmpp:json:0';

/** A pubsub item as the agent SDK hands it over (payload tree and/or its XML text). */
export type AlertItem = { payload?: unknown; xml: string };

/** The igwn.gwalert fields the agent uses (the full notice is kept as parsed). */
export type GwAlertNotice = GwAlert & {
  time_created?: string;
  urls?: { gracedb?: string } | null;
  event?: (NonNullable<GwAlert['event']> & { significant?: boolean; far?: number }) | null;
};

export type Alert =
  | { format: 'voevent'; voevent: VOEvent; info: AlertInfo }
  | { format: 'gwalert'; gwalert: GwAlertNotice; info: AlertInfo };

export interface AlertInfo {
  /** The event the alert is about, shared by its updates and retractions: "LVK:S190425z", "Swift:1125809", or "ivorn:<IVORN>". */
  key: string;
  /** VOEvent IVORN (JSON notices have none). */
  ivorn?: string;
  /** VOEvent role; JSON notices: 'test' for mock superevents (M...), else 'observation'. */
  role: string;
  mission?: string;
  /** GraceID / burst id / trigger number. */
  eventId?: string;
  /** AlertType (LVK) or alert_type (JSON), as written. */
  alertType?: string;
  /** Event time (ISO) when the alert states one. */
  time?: string;
  /** Every IVORN the alert cites, with how. */
  citations: { ivorn: string; cite?: string }[];
  /** Set when the alert withdraws earlier ones: the events it names and the IVORNs it cites. */
  retraction?: { keys: string[]; ivorns: string[] };
  /** Links worth repeating in the result (GraceDB page, ...). */
  links: string[];
}

export class AlertError extends Error {
  override name = 'AlertError';
}

type El = { name: string; attrs: Record<string, string | undefined>; children: unknown[]; getChildElements(): El[] };


function isElement(x: unknown): x is El {
  return !!x && typeof x === 'object' && typeof (x as El).name === 'string' && Array.isArray((x as El).children);
}


/**
 * The JSON text of an item whose payload is JSON inside an XML element (XEP-0335
 * <json xmlns="urn:xmpp:json:0">, or any element holding only JSON text), else undefined.
 */
export function jsonTextOfItem(item: AlertItem): string | undefined {
  if (isElement(item.payload)) {
    const el = item.payload;
    if (localName(el.name) === 'VOEvent') return undefined;
    if (el.getChildElements().length > 0) return undefined;
    const text = textOf(el).trim();
    return el.attrs.xmlns === JSON_NS || text.startsWith('{') ? text : undefined;
  }
  const m = /^\s*<([A-Za-z_][\w.:-]*)\b[^>]*>([\s\S]*)<\/\1>\s*$/.exec(item.xml);
  if (!m || localName(m[1]!) === 'VOEvent' || /<[A-Za-z_!?]/.test(m[2]!)) return undefined;
  const text = decodeEntities(m[2]!).trim();
  return text.startsWith('{') ? text : undefined;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[e]!;
  });
}

/** Parse an alert item: a VOEvent, or an igwn.gwalert JSON notice. Throws AlertError for anything else. */
export function alertOfItem(item: AlertItem): Alert {
  const json = jsonTextOfItem(item);
  if (json !== undefined) return alertOfJson(json);
  let ev: VOEvent | undefined;
  if (item.payload && isElement(item.payload) && localName(item.payload.name) === 'VOEvent') {
    try {
      ev = fromElement(item.payload as unknown as XmlElement);
    } catch (e) {
      if (!(e instanceof VOEventParseError)) throw e;
    }
  }
  if (!ev) {
    const text = item.xml.trim();
    if (text.startsWith('{')) return alertOfJson(text);
    try {
      ev = parse(text);
    } catch (e) {
      throw new AlertError(`neither a VOEvent nor an igwn.gwalert JSON notice: ${(e as Error).message}`);
    }
  }
  return alertOfVOEvent(ev);
}

/** An igwn.gwalert JSON notice (text or parsed). */
export function alertOfJson(input: string | object): Alert {
  let a: GwAlertNotice;
  try {
    a = (typeof input === 'string' ? JSON.parse(input) : input) as GwAlertNotice;
  } catch (e) {
    throw new AlertError(`JSON payload does not parse: ${(e as Error).message}`);
  }
  if (!a || typeof a !== 'object' || Array.isArray(a)) throw new AlertError('JSON payload is not an object');
  if (typeof a.superevent_id !== 'string' || !a.superevent_id || typeof a.alert_type !== 'string') {
    throw new AlertError('JSON payload is not an igwn.gwalert notice (no superevent_id / alert_type)');
  }
  const id = a.superevent_id;
  const key = `LVK:${id}`;
  const alertType = a.alert_type;
  const info: AlertInfo = {
    key,
    // Superevent ids starting with M (MS..., MG...) are mock events of the low-latency test stream.
    role: /^M/.test(id) ? 'test' : 'observation',
    mission: 'LVK',
    eventId: id,
    alertType,
    ...(typeof a.event?.time === 'string' ? { time: a.event.time } : {}),
    citations: [],
    links: typeof a.urls?.gracedb === 'string' ? [a.urls.gracedb] : [],
  };
  // Whether it retracts is the thread rules' decision (voevent/thread.ts), as for the broker's threads.
  if (factsOfJson(a)?.relation === 'retraction') info.retraction = { keys: [key], ivorns: [] };
  return { format: 'gwalert', gwalert: a, info };
}

/** Event key of a VOEvent: the mission's event id when there is one, else the IVORN. */
export function eventKeyOf(ev: VOEvent): string {
  const m = missionSummary(ev);
  if (m.mission && m.eventId) return `${m.mission}:${m.eventId}`;
  return `ivorn:${ev.ivorn}`;
}

export function alertOfVOEvent(ev: VOEvent): Alert {
  const m = missionSummary(ev);
  const l = lvk(ev);
  const key = eventKeyOf(ev);
  const citations = (ev.citations?.eventIVORNs ?? []).map((c) => ({ ivorn: c.ivorn.trim(), ...(c.cite ? { cite: c.cite } : {}) })).filter((c) => c.ivorn);
  const alertType = l?.alertType ?? undefined;
  const info: AlertInfo = {
    key,
    ivorn: ev.ivorn,
    role: ev.role || 'observation',
    ...(m.mission ? { mission: String(m.mission) } : {}),
    ...(m.eventId ? { eventId: m.eventId } : {}),
    ...(alertType ? { alertType } : {}),
    ...(ev.whereWhen?.time?.iso ? { time: ev.whereWhen.time.iso } : {}),
    citations,
    links: l?.eventPage ? [l.eventPage] : [],
  };
  // Whether it retracts, and what, is the thread rules' decision (voevent/thread.ts): cite="retraction",
  // or LVK's AlertType=Retraction (which cites what it withdraws with "supersedes").
  const facts = factsOfVOEvent(ev);
  if (facts.relation === 'retraction') info.retraction = { keys: m.eventId ? [key] : [], ivorns: facts.targets };
  return { format: 'voevent', voevent: ev, info };
}

// ---------------------------------------------------------------------------
// Localisation

export type LocalisationSource =
  | { kind: 'gwalert'; combined: boolean }
  | { kind: 'url'; url: string }
  | { kind: 'circle'; ra: number; dec: number; radius: number; containment: number; profile: 'fisher' | 'tophat' };

export type FoundLocalisation = { input: LocalisationInput; source: LocalisationSource; warnings: string[] };

export type FetchLike = (url: string, init: { signal: AbortSignal; headers?: Record<string, string> }) => Promise<Response>;

export interface LocalisationOptions {
  /** Use external_coinc.combined_skymap of a JSON notice when present (default true). */
  preferCombined?: boolean;
  /** Fisher containment of Error2Radius (default 0.9) and per-stream overrides (lower-case stream IVORN → fraction). */
  containment?: number;
  containmentByStream?: Record<string, number>;
  profile?: 'fisher' | 'tophat';
  /** Error circles larger than this (deg) are not used (default 180). */
  maxRadius?: number;
  fetch?: FetchLike;
  fetchTimeoutMs?: number;
  /** Further attempts after a failed download (default 3), `retryDelayMs` apart, doubling. */
  retries?: number;
  retryDelayMs?: number;
  maxBytes?: number;
  /** URL prefixes allowed (default: any http:// or https:// URL; file:// only when listed). */
  allowUrls?: string[];
  /** Called before a retry (for logs). */
  onRetry?: (url: string, attempt: number, err: Error) => void;
}

/** Param names that carry a sky-map URL (compared in lower case); other names containing "skymap" or "healpix" are tried after them. */
const SKYMAP_PARAMS = ['skymap_fits', 'skymap_url', 'skymap', 'healpix_url', 'healpix_fits', 'skymap_fits_url'];
const IMAGE = /\.(png|jpe?g|gif|pdf|svg|html?)$/i;

/**
 * The sky-map URL of a VOEvent (LVK skymap_fits, Fermi HealPix_URL, ...),
 * without the ",0" HDU suffix LVK appends. Only Params named for a sky map
 * count: other FITS links (light curves) are not localisations.
 */
export function skymapUrlOf(ev: VOEvent): string | undefined {
  const clean = (v: string) => v.trim().replace(/,\d+$/, '');
  const params = allParams(ev).filter((p) => p.name && p.value && /^(https?|file):\/\//i.test(p.value.trim()) && !IMAGE.test(clean(p.value).split(/[?#]/)[0]!));
  const byName = params.find((p) => SKYMAP_PARAMS.includes(p.name!.toLowerCase())) ?? params.find((p) => /skymap|healpix/i.test(p.name!));
  return byName ? clean(byName.value!) : undefined;
}

export class FetchError extends Error {
  override name = 'FetchError';
  constructor(message: string, readonly transient: boolean) {
    super(message);
  }
}

function urlAllowed(url: string, allow: string[] | undefined): boolean {
  if (allow) return allow.some((p) => url.startsWith(p));
  return /^https?:\/\//i.test(url);
}

async function readLimited(res: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw new FetchError(`${url}: ${declared} bytes is more than the limit of ${maxBytes}`, false);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new FetchError(`${url}: more than the limit of ${maxBytes} bytes`, false);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

/** Download a sky map (with a timeout, a size limit and retries on transient failures). */
export async function fetchSkyMap(url: string, opts: LocalisationOptions = {}): Promise<Uint8Array> {
  if (!urlAllowed(url, opts.allowUrls)) {
    throw new FetchError(`sky-map URL ${url} is not allowed (${opts.allowUrls ? `allow_urls: ${opts.allowUrls.join(', ')}` : 'only http:// and https://'})`, false);
  }
  const maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  if (url.startsWith('file://')) {
    const bytes = await readFile(fileURLToPath(url)).catch((e: Error) => {
      throw new FetchError(`${url}: ${e.message}`, false);
    });
    if (bytes.byteLength > maxBytes) throw new FetchError(`${url}: more than the limit of ${maxBytes} bytes`, false);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const doFetch: FetchLike = opts.fetch ?? ((u, init) => fetch(u, init));
  const retries = opts.retries ?? 3;
  let delay = opts.retryDelayMs ?? 2000;
  for (let attempt = 0; ; attempt++) {
    try {
      const signal = AbortSignal.timeout(opts.fetchTimeoutMs ?? 60_000);
      let res: Response;
      try {
        res = await doFetch(url, { signal, headers: { accept: 'application/fits, application/octet-stream, */*' } });
      } catch (e) {
        const err = e as Error;
        throw new FetchError(`${url}: ${err.name === 'TimeoutError' ? 'timed out' : (err.cause as Error | undefined)?.message ?? err.message}`, true);
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        // A map is often announced a moment before it can be downloaded: 404 is worth another try.
        const transient = res.status === 404 || res.status === 408 || res.status === 429 || res.status >= 500;
        throw new FetchError(`${url}: HTTP ${res.status} ${res.statusText}`.trim(), transient);
      }
      try {
        return await readLimited(res, maxBytes, url);
      } catch (e) {
        if (e instanceof FetchError) throw e;
        throw new FetchError(`${url}: ${(e as Error).message}`, true);
      }
    } catch (e) {
      const err = e as FetchError;
      if (!err.transient || attempt >= retries) throw err;
      opts.onRetry?.(url, attempt + 1, err);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

/**
 * Where the alert's localisation is, ready for sky's crossmatchLocalisation.
 * Order of preference: the JSON notice's sky map; a VOEvent's sky-map URL
 * (downloaded); its Position2D error circle (also the fallback when the download
 * fails). Undefined when the alert carries no localisation.
 */
export async function findLocalisation(alert: Alert, opts: LocalisationOptions = {}): Promise<FoundLocalisation | undefined> {
  const warnings: string[] = [];
  if (alert.format === 'gwalert') {
    const a = alert.gwalert;
    const combined = (opts.preferCombined ?? true) && typeof a.external_coinc?.combined_skymap === 'string' && a.external_coinc.combined_skymap.length > 0;
    if (!combined && !(typeof a.event?.skymap === 'string' && a.event.skymap.length > 0)) return undefined;
    return { input: { kind: 'alert', alert: a, ...(combined ? { combined: true } : {}) }, source: { kind: 'gwalert', combined }, warnings };
  }
  const ev = alert.voevent;
  const url = skymapUrlOf(ev);
  if (url) {
    try {
      const bytes = await fetchSkyMap(url, opts);
      return { input: { kind: 'fits', bytes, source: url }, source: { kind: 'url', url }, warnings };
    } catch (e) {
      if (!ev.whereWhen?.position) throw e;
      warnings.push(`sky map not used (${(e as Error).message}); using the error circle`);
    }
  }
  const pos = ev.whereWhen?.position;
  if (pos && Number.isFinite(pos.ra) && Number.isFinite(pos.dec) && pos.error > 0) {
    if (pos.error > (opts.maxRadius ?? 180)) return undefined;
    const stream = streamId(ev).toLowerCase();
    const byStream = opts.containmentByStream ?? {};
    const k = Object.keys(byStream).filter((s) => stream.startsWith(s)).sort((a, b) => b.length - a.length)[0];
    const containment = k !== undefined ? byStream[k]! : opts.containment ?? 0.9;
    const profile = opts.profile ?? 'fisher';
    const circle: CircleLocalisation = { ra: pos.ra, dec: pos.dec, radius: Math.min(pos.error, 180), containment, profile, name: alert.info.eventId ?? ev.ivorn };
    return { input: { kind: 'circle', circle }, source: { kind: 'circle', ra: pos.ra, dec: pos.dec, radius: circle.radius, containment, profile }, warnings };
  }
  return undefined;
}
