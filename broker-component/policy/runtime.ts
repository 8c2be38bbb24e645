/**
 * The access policy inside the broker: load and compile the policy file, reconcile
 * the service with it on start and on every change (file change or SIGHUP), and
 * turn every publication on a product's source node into durable per-level
 * releases, published at once or when the level's embargo ends, redacted for the
 * level.
 *
 * A policy file that fails to load is refused with file:line errors and the
 * policy in force stays; the last good policy is kept in the database, so a
 * broker restarted on a broken file still enforces it.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DomainEvent, PubsubService } from '../core/service.ts';
import type { Actor } from '../../pubsub/types.ts';
import type { Store } from '../store/store.ts';
import { compile } from '../../access-policy/compile.ts';
import { loadPolicyFile } from '../../access-policy/load.ts';
import { ConfigError } from '../../common/config.ts';
import { redact, RedactionError } from '../../access-policy/redact.ts';
import { describeRedaction, duration } from '../../access-policy/describe.ts';
import type { DesiredState, Policy, Transform } from '../../access-policy/types.ts';
import { isEmptyReport, reconcile, type ReconcileReport } from './reconcile.ts';
import { ReleaseQueue, ReleaseScheduler, type ReleaseJob } from './release-queue.ts';
import { isStorageFull, storageFailurePasses } from '../../common/storage-full.ts';
import { watchFile as watchPolicy, type ReloadCause } from '../../common/watch-file.ts';

/** One audit line: who, what, on which node, the decision and why. */
export type PolicyAudit = { actor: string; op: string; node: string; decision: 'grant' | 'refuse' | 'revoke'; reason: string };

export type PolicyRuntimeOptions = {
  file: string;
  service: PubsubService;
  store: Store;
  /** The component's JID: it acts as owner of every node. */
  serviceJid: string;
  log: Logger;
  audit: (rec: PolicyAudit) => void;
  /** Watch the file and SIGHUP (default true). */
  watch?: boolean;
  now?: () => number;
};

export type ReloadResult = { ok: true; unchanged?: boolean; report?: ReconcileReport } | { ok: false; error: string };

const META_ACTIVE = 'policy.active';
const META_NODES = 'policy.nodes';
const pairKey = (source: string, target: string) => `${source}\n${target}`;

export class PolicyRuntime extends EventEmitter {
  readonly queue: ReleaseQueue;
  private readonly scheduler: ReleaseScheduler;
  private readonly actor: Actor;
  private readonly log: Logger;
  private policy!: Policy;
  private text: string | undefined;
  private _state!: DesiredState;
  private bySource = new Map<string, Transform[]>();
  private byPair = new Map<string, Transform>();
  private unwatch: (() => void) | undefined;
  private stopped = false;
  /** A reconcile that found the disk full is tried again. */
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: PolicyRuntimeOptions) {
    super();
    this.log = opts.log.child({ policy_file: opts.file });
    this.actor = { jid: opts.serviceJid, bare: opts.serviceJid.toLowerCase() };
    this.queue = new ReleaseQueue(opts.store);
    this.scheduler = new ReleaseScheduler(
      this.queue,
      (job) => this.release(job),
      (err, job) =>
        storageFailurePasses(err)
          ? this.log.warn({ err: (err as Error).message, node: job?.target, item: job?.itemId }, `releases wait: ${isStorageFull(err) ? 'the data directory is full' : 'the database is unavailable'} (the jobs stay queued and are retried)`)
          : this.log.error({ err: (err as Error).stack, node: job?.target, item: job?.itemId }, 'release failed'),
      opts.now,
    );
  }

  /**
   * Load the policy (or, when the file is refused, the last good one kept in the
   * database). Throws ConfigError when neither exists. Call start() once the
   * component is online.
   */
  static open(opts: PolicyRuntimeOptions): PolicyRuntime {
    const rt = new PolicyRuntime(opts);
    try {
      const { policy, text } = loadPolicyFile(opts.file);
      rt.use(policy, text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const stored = opts.store.getMeta(META_ACTIVE);
      if (!stored) throw e;
      const { policy, loadedAt } = JSON.parse(stored) as { policy: Policy; loadedAt: string };
      rt.log.error({ errors: e.message.split('\n') }, `policy file refused:\n${e.message}\nenforcing the policy last in force (loaded ${loadedAt})`);
      rt.use(policy, undefined);
    }
    return rt;
  }

  get state(): DesiredState {
    return this._state;
  }

  /** Reconcile, run overdue releases, and start watching for changes. */
  start(): ReconcileReport {
    const report = this.apply();
    if (this.opts.watch !== false) {
      this.unwatch = watchPolicy(this.opts.file, (cause) => this.reload(cause), {
        onError: (err) => this.log.warn({ err: err.message }, 'cannot watch the policy file; SIGHUP still reloads it'),
      });
    }
    this.scheduler.run();
    return report;
  }

  /** Read the file again; on success reconcile, on failure keep the policy in force. */
  reload(cause: ReloadCause | 'manual' = 'manual'): ReloadResult {
    if (this.stopped) return { ok: false, error: 'stopped' };
    let loaded: { policy: Policy; text: string };
    try {
      loaded = loadPolicyFile(this.opts.file);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.log.error({ cause, errors: e.message.split('\n') }, `policy file refused; the policy in force stays:\n${e.message}`);
      const r: ReloadResult = { ok: false, error: e.message };
      this.emit('reload', r);
      return r;
    }
    if (cause === 'file' && loaded.text === this.text) return { ok: true, unchanged: true };
    this.use(loaded.policy, loaded.text);
    let r: ReloadResult;
    try {
      r = { ok: true, report: this.apply() };
      this.log.info({ cause, ...summary(r.report!) }, 'policy reloaded');
    } catch (e) {
      this.log.error({ cause, err: (e as Error).stack }, 'policy reconcile failed');
      r = { ok: false, error: (e as Error).message };
      // Partly applied: the same file must be reconciled again (reconcile is idempotent),
      // by itself when the disk was full (it passes).
      this.text = undefined;
      if (storageFailurePasses(e)) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.reload(cause), 5000);
        this.retryTimer.unref();
      }
    }
    this.emit('reload', r);
    return r;
  }

  private use(policy: Policy, text: string | undefined): void {
    this.policy = policy;
    this.text = text;
    this._state = compile(policy, { service: this.actor.bare });
    this.bySource = new Map();
    this.byPair = new Map();
    for (const t of this._state.transforms) {
      this.bySource.set(t.source, [...(this.bySource.get(t.source) ?? []), t]);
      this.byPair.set(pairKey(t.source, t.target), t);
    }
  }

  private apply(): ReconcileReport {
    const managed = JSON.parse(this.opts.store.getMeta(META_NODES) ?? '[]') as string[];
    const report = reconcile(this.opts.service, this.actor, this._state, managed);
    this.opts.store.setMeta(META_NODES, JSON.stringify(this._state.nodes.map((n) => n.id)));
    this.opts.store.setMeta(META_ACTIVE, JSON.stringify({ policy: this.policy, loadedAt: new Date().toISOString() }));
    const reasons = new Map(this._state.nodes.map((n) => [n.id, n.reasons]));
    for (const c of report.affiliations) {
      const why = reasons.get(c.node)?.[c.jid];
      if (c.to === 'none') this.opts.audit({ actor: c.jid, op: 'affiliation', node: c.node, decision: 'revoke', reason: `policy: ${c.from} no longer granted` });
      else if (c.to === 'outcast') this.opts.audit({ actor: c.jid, op: 'affiliation', node: c.node, decision: 'revoke', reason: 'policy: outcast' });
      else this.opts.audit({ actor: c.jid, op: 'affiliation', node: c.node, decision: 'grant', reason: `policy: ${c.to}${why ? ` (${why})` : ''}` });
    }
    for (const id of report.retired) this.log.warn({ node: id }, 'node no longer in the policy: closed (whitelist, no members), items kept; delete it by hand if unwanted');
    // Embargoes count from publication: a changed embargo moves pending releases; dropped deliveries are cancelled.
    const embargoMs = new Map(this._state.transforms.map((t) => [pairKey(t.source, t.target), t.embargoSeconds * 1000]));
    for (const c of this.queue.realign(embargoMs, pairKey))
      if (c.cancelled) this.log.warn(c, 'pending releases cancelled: the policy no longer delivers this product to this level');
    if (!isEmptyReport(report)) this.log.info(summary(report), 'policy applied');
    this.scheduler.kick();
    return report;
  }

  /**
   * The service's domain-event hook (always called, whatever the source node's
   * notification settings): source publications become release jobs.
   */
  onDomainEvent(ev: DomainEvent): void {
    if (this.stopped) return;
    const transforms = this.bySource.get(ev.node);
    if (!transforms) return;
    switch (ev.kind) {
      case 'items-published': {
        const jobs: ReleaseJob[] = [];
        for (const it of ev.items)
          for (const t of transforms)
            jobs.push({ source: ev.node, itemId: it.id, target: t.target, published: it.published, dueAt: it.published + t.embargoSeconds * 1000, payload: it.payload, publisher: it.publisher });
        // Written before the publisher's IQ is answered: an acknowledged item is never lost to a crash.
        this.queue.add(jobs);
        this.scheduler.kick();
        return;
      }
      case 'items-retracted': {
        // Retract once, retracted everywhere: pending releases are cancelled, released items removed.
        this.queue.cancelItems(ev.node, ev.ids);
        setImmediate(() => this.mirror(transforms, (target) => {
          const ids = ev.ids.filter((id) => this.opts.store.getItem(target, id));
          if (ids.length) this.opts.service.retract(this.actor, target, ids, true);
        }));
        return;
      }
      case 'node-purged':
        this.queue.cancelSource(ev.node);
        setImmediate(() => this.mirror(transforms, (target) => this.opts.service.purge(this.actor, target)));
        return;
      case 'node-deleted':
        this.queue.cancelSource(ev.node);
        return;
      default:
        return;
    }
  }

  private mirror(transforms: Transform[], fn: (target: string) => void): void {
    if (this.stopped) return;
    for (const t of transforms) {
      if (!this.opts.service.hasNode(t.target)) continue;
      try {
        fn(t.target);
      } catch (e) {
        this.log.error({ node: t.target, err: (e as Error).message }, 'cannot mirror a source change onto a level node');
      }
    }
  }

  /** Derive one level's item and publish it (the scheduler calls this when the job is due). */
  private release(job: ReleaseJob): void {
    const t = this.byPair.get(pairKey(job.source, job.target));
    if (!t) {
      this.log.warn({ source: job.source, node: job.target, item: job.itemId }, 'release dropped: the policy no longer delivers it');
      return;
    }
    let payload = job.payload;
    if (t.redaction) {
      try {
        payload = redact(job.payload, t.redaction).xml;
      } catch (e) {
        const reason = e instanceof RedactionError ? e.message : (e as Error).message;
        this.opts.audit({ actor: job.publisher, op: 'release', node: t.target, decision: 'refuse', reason: `item ${job.itemId} not delivered to level ${t.level}: ${reason}` });
        return;
      }
    }
    this.opts.service.publish(this.actor, t.target, [{ id: job.itemId, payload }]);
    const late = Math.max(0, (this.opts.now ?? Date.now)() - job.dueAt);
    this.opts.audit({
      actor: job.publisher,
      op: 'release',
      node: t.target,
      decision: 'grant',
      reason: `item ${job.itemId} to level ${t.level} ${duration(t.embargoSeconds)}, ${describeRedaction(t.redaction)}${late > 1000 ? ` (${Math.round(late / 1000)}s late)` : ''}`,
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.unwatch?.();
    this.scheduler.stop();
  }
}

function summary(r: ReconcileReport) {
  return { created: r.created.length, configured: r.configured.length, affiliations: r.affiliations.length, retired: r.retired.length };
}
