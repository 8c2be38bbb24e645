/**
 * The crossmatch agent's core, free of XMPP: targets loaded and prepared once,
 * then per alert item
 *   parse (VOEvent or igwn.gwalert JSON) → retraction? withdraw the event's results
 *   → localisation (JSON sky map, sky-map URL, error circle) → sky crossmatch
 *   → JSON + VOEvent result published on the derived node (same item ids for the
 *     same event, so an update replaces the previous result).
 * Items are handled one at a time across all nodes, so a retraction never
 * overtakes the result it withdraws.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Element } from '@xmpp/xml';
import {
  circleFootprint, crossmatchLocalisation, parseRegions, prepareCatalog, prepareFields, readCatalogFile, rectangleFootprint,
  type CatalogOptions, type CrossmatchResult, type CrossmatchTargets,
} from '../../sky/index.ts';
import { silentLogger, type Logger } from '../lib/index.ts';
import { alertOfItem, findLocalisation, type Alert, type AlertItem, type FetchLike, type FoundLocalisation } from './alert.ts';
import type { CatalogSection, CrossmatchConfig } from './config.ts';
import { Ledger, type PublishedItem } from './ledger.ts';
import {
  jsonPayload, resultDocument, resultEvent, resultItemId, resultIvorn, resultXml, trimResult,
  type ResultContext, type ResultDocument,
} from './result.ts';

function catalogOptions(c: CatalogSection, extra: CatalogOptions = {}): CatalogOptions {
  const o: CatalogOptions = { ...extra };
  if (c.format) o.format = c.format;
  if (c.raColumn) o.raColumn = c.raColumn;
  if (c.decColumn) o.decColumn = c.decColumn;
  if (c.distColumn) o.distColumn = c.distColumn;
  if (c.idColumns) o.idColumns = c.idColumns;
  if (c.weightColumn) o.weightColumn = c.weightColumn;
  if (c.weightIsMagnitude !== undefined) o.weightIsMagnitude = c.weightIsMagnitude;
  if (c.limit) o.limit = c.limit;
  // Results name the catalogue: its file name, not the path on this machine.
  o.name = c.name ?? basename(c.path);
  return o;
}

/** Load and prepare the catalogue, field grid and watch-list once (errors name the config key). */
export async function loadTargets(cfg: CrossmatchConfig, log: Logger = silentLogger()): Promise<CrossmatchTargets> {
  const targets: CrossmatchTargets = {};
  const load = async (key: string, c: CatalogSection, extra: CatalogOptions = {}) => {
    const t0 = performance.now();
    try {
      const cat = await readCatalogFile(c.path, catalogOptions(c, extra));
      for (const w of cat.warnings) log.warn({ catalog: c.path }, w);
      if (cat.size === 0) throw new Error('no usable rows');
      log.info({ key, catalog: cat.name, rows: cat.size, skipped: cat.skipped, columns: cat.columns, ms: Math.round(performance.now() - t0) }, 'catalogue loaded');
      return cat;
    } catch (e) {
      throw new Error(`${cfg.source}: ${key}: cannot load ${c.path}: ${(e as Error).message}`);
    }
  };
  if (cfg.catalog) targets.galaxies = prepareCatalog(await load('catalog', cfg.catalog));
  if (cfg.watchlist) targets.watchlist = prepareCatalog(await load('watchlist', cfg.watchlist));
  if (cfg.fields) {
    const f = cfg.fields;
    const cat = await load('fields', f, { distColumn: 'none' });
    let fp;
    try {
      if ('region' in f.footprint) fp = parseRegions(await readFile(f.footprint.region, 'utf8'));
      else if ('radius' in f.footprint) fp = circleFootprint(f.footprint.radius);
      else fp = rectangleFootprint(f.footprint.rectangle[0], f.footprint.rectangle[1]);
    } catch (e) {
      throw new Error(`${cfg.source}: fields.footprint: ${(e as Error).message}`);
    }
    const prepared = prepareFields(cat, fp, f.order);
    if (f.rasteriseAtStart) {
      const t0 = performance.now();
      prepared.rasteriseAll();
      log.info({ fields: prepared.size, ms: Math.round(performance.now() - t0) }, 'field footprints rasterised');
    }
    targets.fields = prepared;
  }
  return targets;
}

/** How results reach the service (the XMPP side, or a test double). */
export interface ResultSink {
  publishJson(node: string, id: string, payload: Element): Promise<void>;
  publishVOEvent(node: string, id: string, xml: string): Promise<void>;
  /** Retract one item with notification; resolves false when the item was already gone. */
  retract(node: string, id: string): Promise<boolean>;
}

export type Outcome =
  | { action: 'published'; key: string; items: PublishedItem[]; resultIvorn?: string; document: ResultDocument; voevent?: string; ms: number }
  | { action: 'retracted'; keys: string[]; items: PublishedItem[] }
  | { action: 'skipped'; reason: string; key?: string };

export interface CrossmatchAgentOptions {
  config: CrossmatchConfig;
  targets: CrossmatchTargets;
  sink?: ResultSink;
  ledger?: Ledger;
  /** The pubsub service (for xmpp: URIs of alert items). */
  service?: string;
  log?: Logger;
  now?: () => Date;
  fetch?: FetchLike;
  onOutcome?: (o: Outcome, item: { node: string; id: string }) => void;
}

export type ComputedResult = {
  alert: Alert;
  key: string;
  found: FoundLocalisation;
  result: CrossmatchResult;
  document: ResultDocument;
  resultIvorn: string;
  /** Validated result VOEvent (when the voevent format is on). */
  voevent?: string;
  ms: number;
};

export class CrossmatchAgent {
  readonly config: CrossmatchConfig;
  readonly targets: CrossmatchTargets;
  readonly ledger: Ledger;
  private readonly log: Logger;
  private readonly now: () => Date;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: CrossmatchAgentOptions) {
    this.config = o.config;
    this.targets = o.targets;
    this.ledger = o.ledger ?? new Ledger();
    this.log = o.log ?? silentLogger();
    this.now = o.now ?? (() => new Date());
  }

  /** The result node for an alert node. */
  resultNodeOf(node: string): string {
    const r = this.config.routes.find((x) => x.node === node);
    if (!r) throw new Error(`no route for node ${node}`);
    return r.resultNode;
  }

  /** Handle one item (queued behind the ones in hand, across all nodes). */
  handle(item: AlertItem & { node: string; id: string }): Promise<Outcome> {
    const run = this.chain.then(async () => {
      if (this.stopped) return { action: 'skipped', reason: 'agent stopping' } as Outcome;
      await this.retryWithdrawals();
      const outcome = await this.process(item);
      this.o.onOutcome?.(outcome, item);
      return outcome;
    });
    this.chain = run.catch(() => {});
    return run;
  }

  /** Resolves when every queued item is done. */
  async idle(): Promise<void> {
    await this.chain;
  }

  stop(): void {
    this.stopped = true;
  }

  /** The key an alert is filed under: a known event it cites, when its own key is only its IVORN. */
  keyOf(alert: Alert): string {
    const info = alert.info;
    if (!info.key.startsWith('ivorn:')) return info.key;
    for (const c of info.citations) {
      const k = this.ledger.keyOfIvorn(c.ivorn);
      if (k) return k;
    }
    return info.key;
  }

  private async process(item: AlertItem & { node: string; id: string }): Promise<Outcome> {
    const { node, id } = item;
    let alert: Alert;
    try {
      alert = alertOfItem(item);
    } catch (e) {
      this.log.warn({ node, id, err: (e as Error).message }, 'item is not an alert; skipped');
      return { action: 'skipped', reason: (e as Error).message };
    }
    const info = alert.info;
    if (info.retraction) return this.withdraw(alert, node, id);
    const key = this.keyOf(alert);
    if (this.ledger.isRetracted(key)) {
      this.log.info({ node, id, key }, 'event was retracted; alert ignored');
      return { action: 'skipped', reason: 'event retracted', key };
    }
    if (info.role === 'test' && this.config.testAlerts === 'ignore') {
      this.log.info({ node, id, key }, 'test alert ignored (test_alerts: ignore)');
      return { action: 'skipped', reason: 'test alert', key };
    }
    let computed: ComputedResult | undefined;
    try {
      computed = await this.compute(alert, node, id);
    } catch (e) {
      this.log.error({ node, id, key, err: (e as Error).message }, 'crossmatch failed');
      return { action: 'skipped', reason: `crossmatch failed: ${(e as Error).message}`, key };
    }
    if (!computed) {
      this.log.info({ node, id, key, alertType: info.alertType }, 'alert carries no localisation; nothing to crossmatch');
      return { action: 'skipped', reason: 'no localisation', key };
    }
    return this.publish(computed, node);
  }

  /** Localise and crossmatch an alert; undefined when it carries no localisation. Publishes nothing. */
  async compute(alert: Alert, node: string, itemId: string): Promise<ComputedResult | undefined> {
    const cfg = this.config;
    const key = this.keyOf(alert);
    const found = await findLocalisation(alert, {
      preferCombined: cfg.skymaps.preferCombined,
      containment: cfg.circles.containment,
      containmentByStream: cfg.circles.containmentByStream,
      profile: cfg.circles.profile,
      maxRadius: cfg.circles.maxRadius,
      fetchTimeoutMs: cfg.skymaps.fetchTimeoutMs,
      retries: cfg.skymaps.retries,
      retryDelayMs: cfg.skymaps.retryDelayMs,
      maxBytes: cfg.skymaps.maxBytes,
      ...(cfg.skymaps.allowUrls ? { allowUrls: cfg.skymaps.allowUrls } : {}),
      ...(this.o.fetch ? { fetch: this.o.fetch } : {}),
      onRetry: (url, attempt, err) => this.log.warn({ url, attempt, err: err.message }, 'sky-map download failed; retrying'),
    });
    if (!found) return undefined;
    const t0 = performance.now();
    const size = this.targets.galaxies?.catalog.size ?? 0;
    // Ask sky for more than top_n, then keep those inside the credible level.
    const raw = crossmatchLocalisation(found.input, this.targets, {
      topGalaxies: Math.min(size, Math.max(cfg.topN * 10, 100)),
      topFields: cfg.fields?.topN ?? 10,
      levels: cfg.levels,
      rank: cfg.rank,
    });
    const result = trimResult(raw, cfg.credibleLevel, cfg.topN);
    const ms = performance.now() - t0;
    const now = this.now();
    const prev = this.ledger.get(key);
    const ctx: ResultContext = {
      agent: cfg.name,
      authorIvorn: cfg.authorIvorn,
      shortName: cfg.shortName,
      ...(cfg.contactEmail ? { contactEmail: cfg.contactEmail } : {}),
      alert: { ...alert.info, key },
      node,
      itemId,
      ...(this.o.service ? { service: this.o.service } : {}),
      format: alert.format,
      source: found.source,
      warnings: found.warnings,
      credibleLevel: cfg.credibleLevel,
      ...(prev?.resultIvorn ? { supersedes: prev.resultIvorn } : {}),
      now,
    };
    const ivorn = resultIvorn(cfg.authorIvorn, key, now);
    const document = resultDocument(ctx, result, ivorn);
    const voevent = cfg.formats.includes('voevent') ? resultXml(resultEvent(ctx, result, ivorn)) : undefined;
    return { alert, key, found, result, document, resultIvorn: ivorn, ...(voevent ? { voevent } : {}), ms };
  }

  private async publish(c: ComputedResult, node: string): Promise<Outcome> {
    const sink = this.o.sink;
    const resultNode = this.resultNodeOf(node);
    const items: PublishedItem[] = [];
    if (sink) {
      if (c.voevent) {
        const id = resultItemId(c.key, 'voevent');
        await sink.publishVOEvent(resultNode, id, c.voevent);
        items.push({ node: resultNode, id });
      }
      if (this.config.formats.includes('json')) {
        const id = resultItemId(c.key, 'json');
        await sink.publishJson(resultNode, id, jsonPayload(c.document));
        items.push({ node: resultNode, id });
      }
    }
    this.ledger.recordResult(c.key, c.alert.info.ivorn, items, c.voevent ? c.resultIvorn : undefined, this.now());
    this.ledger.save();
    const map = c.result.map;
    this.log.info(
      {
        key: c.key, alert: c.alert.info.ivorn ?? c.alert.info.eventId, localisation: c.found.source.kind, area50: map.area50, area90: map.area90,
        topGalaxy: c.result.galaxies?.top[0]?.id, fieldCoverage: c.result.fields?.top.at(-1)?.cumulativeProb, resultNode, ms: Math.round(c.ms),
      },
      'crossmatch published',
    );
    return { action: 'published', key: c.key, items, resultIvorn: c.voevent ? c.resultIvorn : undefined, document: c.document, ...(c.voevent ? { voevent: c.voevent } : {}), ms: c.ms };
  }

  /** Retract the items still recorded for a retracted event; those that fail stay recorded for the next try. */
  private async retractItems(key: string): Promise<PublishedItem[]> {
    const items = [...(this.ledger.get(key)?.items ?? [])];
    const gone: PublishedItem[] = [];
    for (const it of items) {
      try {
        if (this.o.sink) await this.o.sink.retract(it.node, it.id);
        gone.push(it);
      } catch (e) {
        this.log.error({ key, node: it.node, id: it.id, err: (e as Error).message }, 'could not retract a result item; will try again');
      }
    }
    this.ledger.dropItems(key, gone);
    return gone;
  }

  /** Retry withdrawals that failed earlier (called before each item and at start). */
  async retryWithdrawals(): Promise<void> {
    const pending = this.ledger.pendingWithdrawals();
    if (!pending.length) return;
    for (const key of pending) await this.retractItems(key);
    this.ledger.save();
  }

  /** Withdraw the results of the events a retraction names. */
  private async withdraw(alert: Alert, node: string, id: string): Promise<Outcome> {
    const r = alert.info.retraction!;
    const keys = new Set(r.keys);
    for (const iv of r.ivorns) {
      const k = this.ledger.keyOfIvorn(iv);
      if (k) keys.add(k);
    }
    // Without a mission event id or a known cited alert, the retraction is filed under the IVORNs it cites.
    if (keys.size === 0) for (const iv of r.ivorns) keys.add(`ivorn:${iv}`);
    const withdrawn: PublishedItem[] = [];
    for (const key of keys) {
      this.ledger.retract(key, alert.info.ivorn, this.now());
      withdrawn.push(...(await this.retractItems(key)));
    }
    this.ledger.save();
    this.log.info({ node, id, keys: [...keys], retracted: withdrawn }, withdrawn.length ? 'retraction: results withdrawn' : 'retraction: no result to withdraw');
    return { action: 'retracted', keys: [...keys], items: withdrawn };
  }
}
