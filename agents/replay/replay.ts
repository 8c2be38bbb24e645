/**
 * Replay real packets in time order at N× speed, for drills: read a directory of
 * VOEvents, order them by Who/Date (or the event time in WhereWhen), publish
 * each after the gap that separated it from the previous one divided by the speed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromElement, parseTree, serialize, summary, validate, formatIssue, type VOEvent } from '../../voevent/index.ts';
import type { Agent } from '../lib/connect.ts';
import { prepareVOEvent, publishVOEvent, type PreparedVOEvent } from '../lib/publish.ts';

export type ReplayOrder = 'who' | 'event';

export type ReplayPacket = {
  file: string;
  /** The time the packet is ordered by (ms since the epoch). */
  time: number;
  prepared: PreparedVOEvent;
};

export type LoadedReplay = { packets: ReplayPacket[]; skipped: { file: string; reason: string }[] };

/** Parse an xs:dateTime as VOEvent writes it (no zone = UTC). */
export function voeventTime(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const s = iso.trim();
  const t = Date.parse(/(?:[zZ]|[+-]\d\d:?\d\d)$/.test(s) ? s : `${s}Z`);
  return Number.isNaN(t) ? undefined : t;
}

export function packetTime(ev: VOEvent, by: ReplayOrder): number | undefined {
  const who = voeventTime(ev.who?.date);
  const when = voeventTime(ev.whereWhen?.time?.iso);
  return by === 'who' ? (who ?? when) : (when ?? who);
}

export type ReplayLoadOptions = {
  by?: ReplayOrder;
  /** Rewrite role to "test" (drills). */
  asTest?: boolean;
  /** Append "-TAG" to each IVORN (and to the IVORNs they cite), so a drill's packets are new events, not the originals again. */
  tag?: string;
};

function tagIvorn(ivorn: string, tag: string): string {
  return `${ivorn.trim()}-${tag}`;
}

/** Read, validate and order the packets of a directory (*.xml, not recursive). Invalid ones are skipped with the reason. */
export function loadReplay(dir: string, opts: ReplayLoadOptions = {}): LoadedReplay {
  const by = opts.by ?? 'who';
  const packets: ReplayPacket[] = [];
  const skipped: LoadedReplay['skipped'] = [];
  const files = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.xml')).sort();
  for (const f of files) {
    const path = join(dir, f);
    const bytes = readFileSync(path);
    const v = validate(bytes);
    if (!v.valid) {
      skipped.push({ file: path, reason: formatIssue(v.errors[0]!, path) + (v.errors.length > 1 ? ` (+${v.errors.length - 1} more)` : '') });
      continue;
    }
    const tree = parseTree(bytes);
    const ev = fromElement(tree);
    const time = packetTime(ev, by);
    if (time === undefined) {
      skipped.push({ file: path, reason: `${path}: no Who/Date or WhereWhen time to order it by` });
      continue;
    }
    if (opts.asTest) tree.attrs.role = 'test';
    if (opts.tag) {
      tree.attrs.ivorn = tagIvorn(tree.attrs.ivorn ?? '', opts.tag);
      retagCitations(tree, opts.tag);
    }
    const prepared = opts.asTest || opts.tag ? prepareVOEvent(serialize(tree), path) : prepareVOEvent(bytes, path);
    packets.push({ file: path, time, prepared });
  }
  packets.sort((a, b) => a.time - b.time || a.file.localeCompare(b.file));
  return { packets, skipped };
}

type Tree = { name: string; attrs: Record<string, string>; children: (Tree | string)[] };

function retagCitations(root: Tree, tag: string): void {
  for (const c of root.children) {
    if (typeof c === 'string' || !/(^|:)Citations$/.test(c.name)) continue;
    for (const e of c.children) {
      if (typeof e === 'string' || e.name !== 'EventIVORN') continue;
      const text = e.children.filter((x): x is string => typeof x === 'string').join('');
      e.children = [tagIvorn(text, tag)];
    }
  }
}

export type ReplayOptions = {
  node: string;
  /** 2 = twice as fast as it happened; Infinity = no waiting. */
  speed: number;
  /** Longest wait between two packets, whatever the real gap (default 10 s). */
  maxGapMs?: number;
  onPublished?: (p: ReplayPacket, id: string) => void;
  signal?: AbortSignal;
};

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The wait before each packet (ms), the first one 0. */
export function replaySchedule(packets: { time: number }[], speed: number, maxGapMs = 10_000): number[] {
  return packets.map((p, i) => {
    if (i === 0 || !Number.isFinite(speed)) return 0;
    const gap = (p.time - packets[i - 1]!.time) / speed;
    return Math.min(maxGapMs, Math.max(0, gap));
  });
}

/** Publish the packets in order with the scaled gaps; returns the item ids. */
export async function replay(agent: Agent, packets: ReplayPacket[], opts: ReplayOptions): Promise<string[]> {
  const waits = replaySchedule(packets, opts.speed, opts.maxGapMs);
  const ids: string[] = [];
  for (let i = 0; i < packets.length; i++) {
    await sleep(waits[i]!, opts.signal);
    if (opts.signal?.aborted) break;
    const p = packets[i]!;
    const r = await publishVOEvent(agent, opts.node, p.prepared);
    ids.push(r.id);
    opts.onPublished?.(p, r.id);
  }
  return ids;
}

export function describePacket(p: ReplayPacket): string {
  return `${new Date(p.time).toISOString()} ${p.prepared.id} ${summary(p.prepared.event)}`;
}
