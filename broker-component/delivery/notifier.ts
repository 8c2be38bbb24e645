/**
 * Turns service events into notification stanzas and writes them to the server.
 *
 * The payload of a notification is serialized once; each recipient's stanza is
 * the shared body wrapped in its own <message to=...> envelope, and envelopes are
 * concatenated into large writes, so fan-out costs string concatenation, not XML
 * building. A FanOut strategy (per-recipient stanzas, or XEP-0033 multicast
 * through the server) decides how envelopes reach the wire.
 */
import { escapeXML, escapeXMLText } from '@xmpp/xml';
import type { Recipient, ServiceEvent } from '../core/service.ts';
import type { NodeConfig } from '../../pubsub/types.ts';
import { NS } from '../../common/ns.ts';
import { authorizationRequest, configForm } from '../xep0060/forms.ts';

/** Where stanzas go: the component link. */
export interface Transport {
  /** Write serialized stanzas; resolves when the socket accepted them. */
  write(data: string): Promise<void>;
  isOnline(): boolean;
}

/** One notification for many recipients: identical bytes apart from the envelope. */
export type Notification = {
  /** Inner XML of the <message> (event, headers, body). */
  inner: string;
  /** Stanza id shared by all copies. */
  id: string;
  recipients: string[];
};

/** How a notification reaches its recipients. */
export interface FanOut {
  /**
   * Write the stanzas of a notification. Resolves with the entities whose answer
   * to an IQ proves that the server has routed them (the multicast services used,
   * or the server itself): servers handle a component's stanzas in order.
   */
  deliver(n: Notification): Promise<string[]>;
  /**
   * Most recipients of a notification to write in one turn of the notifier (see
   * Notifier.handle); without it, about one socket write of per-recipient stanzas.
   */
  turnSize?(n: Notification): number;
}

export type NotifierOptions = {
  from: string;
  transport: Transport;
  /** Message type of notifications ('headline' keeps them out of offline storage and chat history). */
  messageType?: 'headline' | 'normal' | 'chat';
  /** A one-line summary of a payload for the <body>, or undefined; `parsed` is its tree when the publish brought one. */
  summarize?: (payload: string, node: string, parsed?: unknown) => string | undefined;
  fanOut?: FanOut;
  /**
   * Resolves once `jid` answered an IQ sent after everything written so far (see
   * FanOut.deliver). Without it, a notification counts as dispatched once written
   * to the socket.
   */
  barrier?: (jid: string) => Promise<void>;
  /** Barrier target of stanzas sent to their recipients directly (the server's domain). */
  serverJid?: string;
  /**
   * Most turns written and not yet confirmed by a barrier (default 2): what a stanza
   * written now may have to wait behind in the server. The barrier must settle (the
   * broker's times out after 5 s), or the notifier waits for it.
   */
  window?: number;
  onError?: (err: unknown) => void;
  /** After a notification was handed to the fan-out strategy in use (metrics). */
  onDelivered?: (fanOut: FanOut, n: Notification) => void;
};

let seq = 0;
function nextId(): string {
  return `vx${Date.now().toString(36)}${(++seq).toString(36)}`;
}

const esc = escapeXML;

/** Per-subscriber stanzas, written in large batches. */
export class DirectFanOut implements FanOut {
  constructor(
    private readonly from: string,
    private readonly type: string,
    private readonly transport: Transport,
    readonly batchBytes = 256 * 1024,
    private readonly serverJid?: string,
  ) {}

  async deliver(n: Notification): Promise<string[]> {
    const head = `<message from="${esc(this.from)}" type="${this.type}" id="${n.id}" to="`;
    const tail = `">${n.inner}</message>`;
    let buf = '';
    for (const to of n.recipients) {
      buf += head + esc(to) + tail;
      if (buf.length >= this.batchBytes) {
        await this.transport.write(buf);
        buf = '';
      }
    }
    if (buf) await this.transport.write(buf);
    return this.serverJid ? [this.serverJid] : [];
  }
}

/** One step of an event's delivery: a raw stanza, or a notification to some of its recipients. */
type Step = { raw: string } | Notification;

/** An event waiting in its node's lane, with the steps of its delivery not yet written. */
type Job = { ev: ServiceEvent; steps?: Step[]; confirmers: Set<string>; failed: boolean; dispatched: () => void };

/**
 * Recipients per turn of the direct fan-out: about one socket write (DirectFanOut's
 * batchBytes) of this notification's stanzas.
 */
function directTurn(n: Notification, batchBytes: number): number {
  return Math.max(1, Math.floor(batchBytes / (n.inner.length + 160)));
}

export class Notifier {
  /** Events waiting for delivery, by node: each node's events are delivered in order. */
  private readonly lanes = new Map<string, Job[]>();
  /** The round-robin loop, while it runs (it stops when every lane is empty). */
  private pumping: Promise<void> | undefined;
  /** Barriers of the turns written and not yet confirmed by the server (at most `window`). */
  private readonly unconfirmed: Promise<void>[] = [];
  readonly type: string;
  private fanOut: FanOut;
  readonly direct: DirectFanOut;

  constructor(private readonly opts: NotifierOptions) {
    this.type = opts.messageType ?? 'headline';
    this.direct = new DirectFanOut(opts.from, this.type, opts.transport, undefined, opts.serverJid);
    this.fanOut = opts.fanOut ?? this.direct;
  }

  /** Switch the fan-out strategy (e.g. once a multicast service was discovered). */
  useFanOut(f: FanOut | undefined): void {
    this.fanOut = f ?? this.direct;
  }

  get fanOutStrategy(): FanOut {
    return this.fanOut;
  }

  /**
   * Handle one service event. Returns a promise that resolves once the event's
   * notifications are dispatched: written, and routed by the server (confirmed by a
   * barrier IQ). It never rejects: a failed delivery is reported through onError,
   * and the caller's acknowledgement must not wait forever.
   *
   * Each node's events are delivered in order; nodes take turns. A turn writes one
   * event's stanzas to a bounded number of recipients (about one socket write, or one
   * multicast stanza), so a burst of notifications to a thousand subscribers of one
   * node delays another node's notification by one turn per busy node, not by the
   * whole burst (issue 20: a heartbeat's acknowledgement waited behind 50,000
   * stanzas).
   *
   * Rendering (summaries parse the payload) starts on a later turn of the event
   * loop, so it never delays whatever the caller does synchronously.
   */
  handle(ev: ServiceEvent): Promise<void> {
    let dispatched!: () => void;
    const done = new Promise<void>((r) => (dispatched = r));
    const lane = this.lanes.get(ev.node);
    const job: Job = { ev, confirmers: new Set(), failed: false, dispatched };
    if (lane) lane.push(job);
    else this.lanes.set(ev.node, [job]);
    this.pumping ??= this.pump();
    return done;
  }

  /** Round-robin over the nodes' lanes, one turn each, until every lane is empty. */
  private async pump(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    for (;;) {
      // Cleared in the same synchronous step that finds the lanes empty: an event
      // handled right after starts a new loop.
      if (!this.lanes.size) {
        this.pumping = undefined;
        return;
      }
      // A Map iterates over entries added meanwhile too: a new node gets its turn in this round.
      for (const [node, lane] of this.lanes) {
        const job = lane[0]!;
        const confirmers = await this.turn(job);
        const last = job.failed || !job.steps!.length;
        if (last) {
          lane.shift();
          if (!lane.length) this.lanes.delete(node);
        }
        // A barrier after every turn: the server answers it once it has routed the
        // turn. The last turn's barrier (to every entity the event went through)
        // confirms the event: an acknowledgement leaves as soon as its own
        // notifications are routed.
        const barrier = this.confirm(last ? [...job.confirmers] : confirmers, last ? job.dispatched : undefined);
        // At most `window` turns written and not yet routed: the server reads the
        // component's stream in order, so whatever is written next (a publish's
        // result, another node's notification) waits behind that much and no more,
        // not behind a whole burst sitting in socket buffers.
        if (barrier) {
          this.unconfirmed.push(barrier);
          while (this.unconfirmed.length >= (this.opts.window ?? 2)) await this.unconfirmed.shift();
        }
      }
    }
  }

  /** Write the next step of a job (rendering it first if it has not started); returns who can confirm it. */
  private async turn(job: Job): Promise<string[]> {
    try {
      job.steps ??= this.render(job.ev);
      const step = job.steps.shift();
      if (!step) return [];
      if ('raw' in step) {
        await this.opts.transport.write(step.raw);
        if (!this.opts.serverJid) return [];
        job.confirmers.add(this.opts.serverJid);
        return [this.opts.serverJid];
      }
      const fanOut = this.fanOut;
      const size = fanOut.turnSize?.(step) ?? directTurn(step, this.direct.batchBytes);
      let part = step;
      if (step.recipients.length > size) {
        part = { ...step, recipients: step.recipients.slice(0, size) };
        job.steps.unshift({ ...step, recipients: step.recipients.slice(size) });
      }
      const confirmers = await fanOut.deliver(part);
      for (const c of confirmers) job.confirmers.add(c);
      this.opts.onDelivered?.(fanOut, part);
      return confirmers;
    } catch (err) {
      job.failed = true;
      this.opts.onError?.(err);
      return [];
    }
  }

  /** Barriers to `jids` (none without a barrier function or a jid); `dispatched` once they settled. */
  private confirm(jids: string[], dispatched?: () => void): Promise<void> | undefined {
    const barrier = this.opts.barrier;
    if (!barrier || !jids.length) {
      dispatched?.();
      return undefined;
    }
    const p = Promise.all(jids.map((j) => barrier(j).catch((err) => this.opts.onError?.(err)))).then(() => {});
    if (dispatched) void p.finally(dispatched);
    return p;
  }

  /** Resolves when everything handled so far has been written (not confirmed). */
  async drain(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  private render(ev: ServiceEvent): Step[] {
    switch (ev.kind) {
      case 'items':
        return this.itemsNotifications(ev.node, ev, ev.config);
      case 'retract':
        return this.grouped(ev.recipients, `<event xmlns="${NS.EVENT}"><items node="${esc(ev.node)}">${ev.ids.map((id) => `<retract id="${esc(id)}"/>`).join('')}</items></event>`);
      case 'purge':
        return this.grouped(ev.recipients, `<event xmlns="${NS.EVENT}"><purge node="${esc(ev.node)}"/></event>`);
      case 'delete': {
        const redirect = ev.redirect ? `<redirect uri="${esc(ev.redirect)}"/>` : '';
        return this.grouped(ev.recipients, `<event xmlns="${NS.EVENT}"><delete node="${esc(ev.node)}">${redirect}</delete></event>`);
      }
      case 'config': {
        const form = ev.config.deliver_payloads ? configForm(ev.config, 'result', ev.children).toString() : '';
        return this.grouped(ev.recipients, `<event xmlns="${NS.EVENT}"><configuration node="${esc(ev.node)}">${form}</configuration></event>`);
      }
      case 'subscription': {
        const sub = `<subscription node="${esc(ev.node)}" jid="${esc(ev.jid)}" subscription="${ev.state}"${ev.subid ? ` subid="${esc(ev.subid)}"` : ''}/>`;
        return [{ raw: `<message from="${esc(this.opts.from)}" to="${esc(ev.jid)}" id="${nextId()}"><pubsub xmlns="${NS.PUBSUB}">${sub}</pubsub></message>` }];
      }
      case 'authorization-request':
        return ev.owners.map((o) => ({ raw: authorizationRequest(this.opts.from, o, ev.node, ev.jid, ev.subid).toString() }));
      case 'associate':
        // XEP-0248 §6.1: a node joined a collection (subscriptions of type 'nodes').
        return this.grouped(ev.recipients, `<event xmlns="${NS.EVENT}"><collection node="${esc(ev.node)}"><associate node="${esc(ev.child)}"/></collection></event>`);
    }
  }

  private itemsNotifications(node: string, ev: { items: { id: string; payload: string; publisher: string; published: number }[]; recipients: Recipient[]; lastPublished?: boolean; parsed?: unknown[] }, cfg: NodeConfig): Notification[] {
    const items = ev.items
      .map((it) => {
        const attrs = `id="${esc(it.id)}" publisher="${esc(it.publisher)}"`;
        return cfg.deliver_payloads && it.payload ? `<item ${attrs}>${it.payload}</item>` : `<item ${attrs}/>`;
      })
      .join('');
    // A transient notification-only node's publish has no item: an empty <items/> (XEP-0060 §7.1).
    let inner = `<event xmlns="${NS.EVENT}"><items node="${esc(node)}">${items}</items></event>`;
    if (ev.lastPublished && ev.items[0]) inner += `<delay xmlns="${NS.DELAY}" stamp="${new Date(ev.items[0].published).toISOString()}"/>`;
    let body = '';
    if (cfg.body_summary && this.opts.summarize && ev.recipients.some((r) => r.body !== false)) {
      const lines = ev.items.map((it, i) => (it.payload ? this.opts.summarize!(it.payload, node, ev.parsed?.[i]) : undefined)).filter((s): s is string => !!s);
      if (lines.length) body = `<body>${escapeXMLText(lines.join('\n'))}</body>`;
    }
    return this.grouped(ev.recipients, inner, body);
  }

  /**
   * Recipients that need the same bytes share one notification: those holding one
   * subscription, directly on the node, who take the <body>. A JID subscribed
   * several times gets SHIM SubID headers (XEP-0060 §12.5), one receiving through
   * a collection the Collection header (XEP-0248 §6.1), and one that asked for no
   * body (pubsub#include_body off) a copy without it.
   */
  private grouped(recipients: Recipient[], inner: string, body = ''): Notification[] {
    const id = nextId();
    const groups = new Map<string, Notification>();
    for (const r of recipients) {
      const headers: string[] = [];
      if (r.subids.length > 1) for (const s of r.subids) headers.push(`<header name="SubID">${esc(s)}</header>`);
      if (r.collection !== undefined) headers.push(`<header name="Collection">${esc(r.collection)}</header>`);
      const text = (r.body === false ? '' : body) + (headers.length ? `<headers xmlns="${NS.SHIM}">${headers.join('')}</headers>` : '');
      const g = groups.get(text);
      if (g) g.recipients.push(r.jid);
      else groups.set(text, { inner: inner + text, id, recipients: [r.jid] });
    }
    return [...groups.values()];
  }
}
