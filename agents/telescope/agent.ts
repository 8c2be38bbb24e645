/**
 * The telescope agent's core, free of XMPP: one VOEvent in → decision → action →
 * remembered → status VOEvent out. The CLI feeds it from pubsub notifications and
 * gives it a publish function; tests and the benchmark feed it directly too.
 *
 * Packets are handled one at a time, in arrival order, so a followup always sees
 * the request its predecessor made (the state is per event thread).
 */
import type { VOEvent } from '../../voevent/index.ts';
import { ActionError, createAction, type Action, type ActionInput, type ActionResult } from './actions.ts';
import { decide, type Decision } from './decide.ts';
import { buildRequestGroup, type RequestGroup } from './requests.ts';
import type { Rules } from './rules.ts';
import { STATUS_OF, statusXml, type StatusWord } from './status.ts';
import { Tracker } from './tracker.ts';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

export interface HandleResult {
  decision: Decision;
  status?: StatusWord;
  requestGroup?: RequestGroup;
  result?: ActionResult;
  error?: string;
  /** The status VOEvent published (or that would have been, without a status node). */
  statusXml?: string;
  /** performance.now() when the packet arrived (as given to handle()). */
  receivedAt?: number;
  /** performance.now() when the action completed. */
  actedAt?: number;
}

export interface Arrival {
  /** performance.now() when the notification arrived. */
  receivedAt?: number;
  node?: string;
  /** Came in a live notification (false: fetched by catch-up). */
  live?: boolean;
}

export interface TelescopeAgentOptions {
  rules: Rules;
  action?: Action;
  tracker?: Tracker;
  /** Publish a status VOEvent (node, xml); absent = no status packets. */
  publish?: (node: string, xml: string) => Promise<unknown>;
  log?: Logger;
  now?: () => Date;
  /** Called after each packet is handled (tests, benchmarks, metrics). */
  onHandled?: (r: HandleResult, ev: VOEvent) => void;
}

export class TelescopeAgent {
  readonly rules: Rules;
  readonly action: Action;
  readonly tracker: Tracker;
  private readonly log: Logger;
  private readonly now: () => Date;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(private readonly o: TelescopeAgentOptions) {
    this.rules = o.rules;
    this.log = o.log ?? silent;
    this.now = o.now ?? (() => new Date());
    this.tracker = o.tracker ?? new Tracker({ file: o.rules.stateFile });
    this.action =
      o.action ??
      createAction(o.rules.action, {
        onRetry: (err, attempt, delay) => this.log.warn({ err: err.message, attempt, delayMs: delay }, 'telescope action failed, retrying'),
      });
  }

  /** Handle one packet (queued behind those still in progress). */
  handle(ev: VOEvent, arrival: Arrival = {}): Promise<HandleResult> {
    const run = this.queue.then(() => this.handleNow(ev, arrival));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Wait for the packets in progress. */
  idle(): Promise<unknown> {
    return this.queue;
  }

  /** Stop retrying; packets in progress fail fast. */
  stop(): void {
    this.abort.abort(new Error('telescope agent stopping'));
  }

  /** Perform an action with its intent written ahead (see Tracker.begin). */
  private performLogged(input: ActionInput): Promise<ActionResult> {
    this.tracker.begin(input.event.ivorn, input.kind, this.now());
    return this.action.perform(input, this.abort.signal);
  }

  /**
   * The packet's action was begun before a crash and never recorded: if the
   * telescope already has the request, adopt it instead of sending it again.
   */
  private async resume(input: ActionInput): Promise<ActionResult | undefined> {
    if (!this.tracker.pendingFor(input.event.ivorn) || !this.action.find) return undefined;
    try {
      const found = await this.action.find(input, this.tracker.requestIds(), this.abort.signal);
      this.log.warn({ ivorn: input.event.ivorn, requestId: found?.id }, found ? 'request sent before a crash found at the telescope: not sent again' : 'request begun before a crash not found at the telescope: sending it');
      return found;
    } catch (e) {
      this.log.warn({ ivorn: input.event.ivorn, err: (e as Error).message }, 'cannot ask the telescope for a request begun before a crash: sending it (it may arrive twice)');
      return undefined;
    }
  }

  private async handleNow(ev: VOEvent, arrival: Arrival): Promise<HandleResult> {
    const at = this.now();
    const duplicate = this.tracker.isHandled(ev.ivorn);
    const prior = duplicate ? undefined : this.tracker.lookup(ev);
    const decision = decide(ev, this.rules, at, prior, { duplicate });
    const out: HandleResult = { decision, ...(arrival.receivedAt !== undefined ? { receivedAt: arrival.receivedAt } : {}) };
    const logCtx = { ivorn: ev.ivorn, action: decision.action, reason: decision.reason, ...(arrival.node ? { node: arrival.node } : {}), ...(arrival.live === false ? { catchUp: true } : {}) };
    if (decision.action === 'ignore') {
      this.log.debug?.(logCtx, 'alert ignored');
      if (!duplicate) this.tracker.record(ev, decision, { at });
      this.o.onHandled?.(out, ev);
      return out;
    }

    let status: StatusWord = STATUS_OF[decision.action]!;
    let requestId: string | undefined;
    let previousRequestId: string | undefined;
    try {
      if (decision.action === 'trigger' || decision.action === 'schedule' || decision.action === 'update') {
        out.requestGroup = buildRequestGroup(decision, this.rules);
        const kind = decision.action === 'update' ? 'update' : 'submit';
        previousRequestId = decision.action === 'update' ? prior?.requestId : undefined;
        const input = { kind, event: ev, decision, requestGroup: out.requestGroup, ...(previousRequestId !== undefined ? { previousId: previousRequestId } : {}) } as const;
        out.result = (await this.resume(input)) ?? (await this.performLogged(input));
        requestId = out.result.id;
      } else if (decision.action === 'cancel') {
        requestId = prior?.requestId;
        out.result = await this.performLogged({ kind: 'cancel', event: ev, decision, ...(requestId !== undefined ? { previousId: requestId } : {}) });
      }
      out.actedAt = performance.now();
      this.tracker.record(ev, decision, { at, ...(decision.action !== 'cancel' && requestId !== undefined ? { requestId } : {}) });
      this.log.info({ ...logCtx, requestId, attempts: out.result?.attempts }, `alert ${status}`);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      out.error = msg;
      status = 'failed';
      this.tracker.record(ev, decision, { at, error: msg });
      this.log.error({ ...logCtx, err: msg, attempts: e instanceof ActionError ? e.attempts : undefined }, 'telescope action failed');
    }
    out.status = status;

    try {
      out.statusXml = statusXml({
        status,
        alert: ev,
        decision,
        rules: this.rules,
        ...(requestId !== undefined ? { requestId } : {}),
        ...(previousRequestId !== undefined ? { previousRequestId } : {}),
        ...(out.error ? { error: out.error } : {}),
        ...(out.result ? { attempts: out.result.attempts } : {}),
        now: this.now(),
      });
      if (this.o.publish && this.rules.statusNode) await this.o.publish(this.rules.statusNode, out.statusXml);
    } catch (e) {
      this.log.error({ ivorn: ev.ivorn, err: e instanceof Error ? e.message : String(e) }, 'status VOEvent not published');
    }
    this.o.onHandled?.(out, ev);
    return out;
  }
}
