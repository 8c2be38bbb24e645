/**
 * A heartbeat stream: a small VOEvent (role=utility) published every interval,
 * so that subscribers can raise an alarm when it stops (Follower silenceMs,
 * `voxnet subscribe NODE --alarm-silence 5s`).
 */
import { hostname } from 'node:os';
import { build, type VOEvent } from '../../voevent/index.ts';
import type { Agent } from '../lib/connect.ts';
import { XmppIqError, isTransient } from '../../common/xmpp/iq-errors.ts';
import { prepareVOEvent, publishVOEvent } from '../lib/publish.ts';

export type HeartbeatOptions = {
  node: string;
  intervalMs: number;
  /** Stop after this many beats (default: run until stopped). */
  count?: number;
  /** IVORN without the local part, e.g. ivo://svom.fr/heartbeat (default ivo://<agent domain>/voxnet/heartbeat). */
  ivornBase?: string;
  /** Role of the packets (default utility; test for drills). */
  role?: 'utility' | 'test';
  /**
   * Age retention of a node the heartbeat creates (voxnet#max_age, default one day):
   * heartbeats matter only while fresh. A node that exists keeps its own setting.
   */
  retainSeconds?: number;
  /** Called after each beat with its item id (or the error). */
  onBeat?: (beat: { seq: number; id?: string; error?: Error }) => void;
};

/** The heartbeat packet number `seq` at time `at`. */
export function heartbeatEvent(opts: { ivornBase: string; seq: number; at: Date; intervalMs: number; source: string; role?: 'utility' | 'test' }): VOEvent {
  const iso = opts.at.toISOString();
  return {
    ivorn: `${opts.ivornBase}#${iso.replace(/[-:]/g, '').replace('.', '_')}-${opts.seq}`,
    role: opts.role ?? 'utility',
    version: '2.0',
    who: { date: iso, author: { shortName: 'VOXnet heartbeat', contactName: opts.source } },
    what: {
      params: [
        { name: 'sequence', value: String(opts.seq), dataType: 'int' },
        { name: 'interval', value: String(opts.intervalMs / 1000), unit: 's', dataType: 'float' },
        { name: 'source', value: opts.source },
      ],
      groups: [],
      tables: [],
    },
    description: 'VOXnet heartbeat: the stream is alive',
  };
}

export type HeartbeatRun = {
  /** Resolves when `count` beats were sent or stop() was called. */
  done: Promise<void>;
  stop(): void;
};

/** Beat every intervalMs on a fixed schedule (no drift); a beat that fails (e.g. offline) is logged and skipped. */
export function runHeartbeat(agent: Agent, opts: HeartbeatOptions): HeartbeatRun {
  const base = opts.ivornBase ?? `ivo://${agent.domain}/voxnet/heartbeat`;
  const source = `${agent.bare} on ${hostname()}`;
  const start = Date.now();
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // Sent as publish-options until the service shows the node exists with another setting.
  let retain: Record<string, string> | undefined = { 'voxnet#max_age': String(opts.retainSeconds ?? 86_400) };
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));

  const beat = async () => {
    const n = ++seq;
    try {
      const ev = heartbeatEvent({ ivornBase: base, seq: n, at: new Date(), intervalMs: opts.intervalMs, source, role: opts.role });
      const packet = prepareVOEvent(build(ev, { pretty: false }), 'heartbeat');
      let r;
      try {
        r = await publishVOEvent(agent, opts.node, packet, { publishOptions: retain });
      } catch (e) {
        if (!(retain && e instanceof XmppIqError && e.condition === 'conflict')) throw e;
        agent.log.info({ node: opts.node }, "the heartbeat node exists with its own retention: keeping it");
        retain = undefined;
        r = await publishVOEvent(agent, opts.node, packet);
      }
      opts.onBeat?.({ seq: n, id: r.id });
    } catch (e) {
      agent.log[isTransient(e) ? 'warn' : 'error']({ err: (e as Error).message, seq: n }, 'heartbeat not published');
      opts.onBeat?.({ seq: n, error: e as Error });
    }
    if (stopped) return;
    if (opts.count !== undefined && n >= opts.count) {
      stopped = true;
      finish();
      return;
    }
    // Next beat on the schedule start + k·interval (skipping beats that are already late).
    const now = Date.now();
    const k = Math.max(n, Math.ceil((now - start) / opts.intervalMs));
    timer = setTimeout(() => void beat(), start + k * opts.intervalMs - now);
  };
  void beat();
  return {
    done,
    stop() {
      stopped = true;
      clearTimeout(timer);
      finish();
    },
  };
}
