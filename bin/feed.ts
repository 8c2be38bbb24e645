/**
 * The live feed `make up` (voxnet devnet) prints instead of every log line: one
 * short coloured line per alert published, per release to a level, per agent
 * action (a room message, a notification, a telescope decision...), and every
 * warning or error. The full JSON logs go to files.
 *
 * feedLine() picks and formats one pino record; records an agent wants in the
 * feed carry a `feed` field (see agents/rooms, agents/notify).
 */
import { formatRecord } from '../common/log-format.ts';

const C = { dim: '\x1b[2m', bold: '\x1b[1m', cyan: '\x1b[36m', green: '\x1b[32m', yellow: '\x1b[33m', magenta: '\x1b[35m', blue: '\x1b[34m', reset: '\x1b[0m' };

type Rec = Record<string, unknown>;

/** Agent messages worth a line even without a `feed` field (telescope decisions, crossmatch results, publisher). */
const AGENT_ACTIONS = /^(alert |retraction|published|crossmatch|results? |observation|already on the node)/;

function clock(t: unknown): string {
  return (typeof t === 'number' ? new Date(t) : new Date()).toISOString().slice(11, 19);
}

/**
 * A feed entry: a line, or one part of a line shared by records that arrive
 * together (the releases of one item to every level; its relays to every room).
 */
export type FeedEntry = string | { key: string; head: string; part: string };

export type FeedOptions = { color?: boolean; service?: string; hide?: (rec: Rec) => boolean };

const RELEASE = /^item (\S+) to level (\S+) (.*?), (.*)$/;

/** One feed entry for a record from `source` (broker, or an agent's name), or undefined to leave it to the log file. */
export function feedLine(rec: Rec, source: string, opts: FeedOptions = {}): FeedEntry | undefined {
  if (opts.hide?.(rec)) return undefined;
  const color = opts.color ?? false;
  const c = (code: string, s: string) => (color ? `${code}${s}${C.reset}` : s);
  const line = (tag: string, tint: string, text: string) => `${c(C.dim, clock(rec.time))} ${c(tint, tag.padEnd(9))} ${text}`;
  const level = Number(rec.level ?? 30);
  if (level >= 40) return formatRecord({ ...rec, agent: rec.agent ?? source }, color);
  const audit = rec.audit as Rec | undefined;
  if (audit) {
    if (audit.op === 'release' && audit.decision === 'grant') {
      const m = RELEASE.exec(String(audit.reason ?? ''));
      if (!m) return line('release', C.green, `${c(C.bold, String(audit.node))} ${c(C.dim, String(audit.reason ?? ''))}`);
      const [, item, level, when, how] = m as unknown as [string, string, string, string, string];
      const part = `${level}${when !== 'at once' ? ` ${when}` : ''}${how !== 'unchanged' ? c(C.dim, ' (redacted)') : ''}`;
      return { key: `release ${item}`, head: line('release', C.green, `${item} →`), part };
    }
    if (audit.decision === 'revoke') return { key: `revoke ${audit.actor} ${audit.reason}`, head: line('revoke', C.yellow, `${audit.actor} (${audit.reason ?? ''}) on`), part: String(audit.node) };
    return undefined;
  }
  if (rec.feed === 'publish') {
    // Releases to level nodes have their own line; show what publishers publish.
    if (opts.service && rec.publisher === opts.service) return undefined;
    const items = Array.isArray(rec.items) ? (rec.items as string[]) : [];
    return line('alert', C.cyan, `${c(C.bold, String(rec.node))} ${items.join(' ')}${rec.publisher ? c(C.dim, ` by ${rec.publisher}`) : ''}`);
  }
  if (rec.feed === 'relay' && rec.item && rec.room) {
    return { key: `relay ${rec.item}`, head: line(String(rec.agent ?? source), C.magenta, `${rec.item} → rooms`), part: String(rec.room).split('@')[0]! };
  }
  if (rec.feed !== undefined) return line(String(rec.agent ?? source), C.magenta, String(rec.msg ?? ''));
  if ((rec.agent !== undefined || source !== 'broker') && typeof rec.msg === 'string' && AGENT_ACTIONS.test(rec.msg)) {
    const extra = ['node', 'id', 'item', 'requestId'].filter((k) => rec[k] !== undefined).map((k) => `${k}=${String(rec[k])}`).join(' ');
    return line(String(rec.agent ?? source), C.magenta, `${rec.msg}${extra ? c(C.dim, ` ${extra}`) : ''}`);
  }
  return undefined;
}

/** A line of a command's standard output worth showing (e.g. what a subscriber prints). */
export function outputLine(text: string, source: string, color = false): string {
  const c = (code: string, s: string) => (color ? `${code}${s}${C.reset}` : s);
  return `${c(C.dim, clock(undefined))} ${c(C.blue, source.padEnd(9))} ${text}`;
}

function joinParts(parts: string[]): string {
  return parts.length > 6 ? `${parts.slice(0, 5).join(', ')} … (${parts.length} in all)` : parts.join(', ');
}

/**
 * Prints the feed: JSON log lines in, feed lines out. Entries sharing a key that
 * arrive within `windowMs` become one line. Lines that are not JSON are shown as
 * they are (a crash's stack trace must be seen).
 */
export class FeedPrinter {
  private readonly groups = new Map<string, { head: string; parts: string[]; timer: NodeJS.Timeout }>();

  constructor(private readonly print: (line: string) => void, private readonly opts: FeedOptions = {}, private readonly windowMs = 300) {}

  jsonLine(text: string, source: string): void {
    if (!text.trim()) return;
    let rec: Rec;
    try {
      rec = JSON.parse(text) as Rec;
    } catch {
      this.print(outputLine(text, source, this.opts.color));
      return;
    }
    this.entry(feedLine(rec, source, this.opts));
  }

  entry(e: FeedEntry | undefined): void {
    if (e === undefined) return;
    if (typeof e === 'string') return this.print(e);
    const g = this.groups.get(e.key);
    if (g) {
      if (!g.parts.includes(e.part)) g.parts.push(e.part);
      return;
    }
    const timer = setTimeout(() => this.flushKey(e.key), this.windowMs);
    timer.unref?.();
    this.groups.set(e.key, { head: e.head, parts: [e.part], timer });
  }

  private flushKey(key: string): void {
    const g = this.groups.get(key);
    if (!g) return;
    clearTimeout(g.timer);
    this.groups.delete(key);
    this.print(`${g.head} ${joinParts(g.parts)}`);
  }

  /** Print what is still grouped. */
  flush(): void {
    for (const key of [...this.groups.keys()]) this.flushKey(key);
  }
}
