/**
 * The science-centre publisher: watches the inbox where the ground segment drops
 * packets (VOEvent XML, or a JSON burst description it builds a VOEvent from),
 * validates, publishes to the product node, and moves each file to done/ or to
 * failed/ with the reason beside it (FILE.reason.txt).
 *
 * Crash safety: a file leaves the inbox only after its packet is stored on the
 * broker (or refused for good), so a crash loses nothing; the item id derives
 * from the IVORN and an item already on the node is not published again, so a
 * crash between publishing and moving the file publishes no duplicate. A full
 * disk is the same: a broker that answers resource-constraint, or a done/ or
 * failed/ that cannot take the record (ENOSPC), leaves the file in the inbox to
 * be retried.
 *
 * Half-written files: names starting with '.' or ending in .tmp/.part/.partial
 * are ignored (write-then-rename). Other files are taken as soon as they parse
 * completely (a truncated XML or JSON document cannot); one that keeps failing to
 * parse with an unchanged size and time for `incomplete_timeout` goes to failed/.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, watch, type FSWatcher } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { build, validate, formatIssue } from '../../voevent/index.ts';
import type { Agent } from '../lib/connect.ts';
import { ConfigError } from '../../common/config.ts';
import { durationSchema } from '../../common/duration.ts';
import { XMPP_CONFIG_SCHEMA } from '../lib/options.ts';
import { XmppIqError, isTransient } from '../../common/xmpp/iq-errors.ts';
import type { ConnectionOptions } from '../lib/options.ts';
import { parseDuration } from '../lib/options.ts';
import { InvalidVOEventError, prepareVOEvent, publishVOEvent, type PreparedVOEvent } from '../lib/publish.ts';
import { writeFileAtomic } from '../lib/state.ts';
import { isStorageFull } from '../../common/storage-full.ts';
import { burstEvent, checkBurst, type BurstDefaults } from './burst.ts';

export type PublisherConfig = {
  xmpp?: Partial<ConnectionOptions>;
  /** The product node. */
  node: string;
  inbox: string;
  /** Default <inbox>/done. */
  done?: string;
  /** Default <inbox>/failed. */
  failed?: string;
  poll_interval?: string | number;
  incomplete_timeout?: string | number;
  /** Validation engine: fast (default) or xsd (libxml2). */
  validator?: 'fast' | 'xsd';
  burst?: BurstDefaults;
  log_level?: string;
};

export const PUBLISHER_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['node', 'inbox'],
  properties: {
    xmpp: XMPP_CONFIG_SCHEMA,
    node: { type: 'string', minLength: 1 },
    inbox: { type: 'string', minLength: 1 },
    done: { type: 'string', minLength: 1 },
    failed: { type: 'string', minLength: 1 },
    poll_interval: durationSchema(),
    incomplete_timeout: durationSchema(),
    validator: { enum: ['fast', 'xsd'] },
    burst: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ivorn_base: { type: 'string', pattern: '^ivo://[^/#\\s]+[^#\\s]*$', description: 'an IVORN without #local, e.g. ivo://org.svom/fsc' },
        author_ivorn: { type: 'string', pattern: '^ivo://' },
        author: {
          type: 'object',
          additionalProperties: false,
          properties: Object.fromEntries(['title', 'shortName', 'logoURL', 'contactName', 'contactEmail', 'contactPhone'].map((k) => [k, { type: 'string' }])),
        },
        role: { enum: ['observation', 'prediction', 'utility', 'test'] },
        observatory: { type: 'string' },
      },
    },
    log_level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
  },
} as const;

const IGNORED = /^\.|\.(tmp|part|partial|swp)$|~$|\.reason\.txt$/i;

export type Outcome =
  | { file: string; status: 'published'; id: string; ivorn: string; alreadyPresent: boolean }
  | { file: string; status: 'failed'; reason: string }
  | { file: string; status: 'waiting'; reason: string }
  | { file: string; status: 'retry'; reason: string };

function durationOf(v: string | number | undefined, dflt: number, key: string): number {
  if (v === undefined) return dflt;
  if (typeof v === 'number') return Math.round(v * 1000);
  try {
    return parseDuration(v, key);
  } catch (e) {
    throw new ConfigError('configuration', [`${key}: ${(e as Error).message}`]);
  }
}

/** Not a packet (yet): could be a half-written file. */
class Incomplete extends Error {}

export class Publisher {
  readonly inbox: string;
  readonly doneDir: string;
  readonly failedDir: string;
  readonly pollMs: number;
  readonly incompleteMs: number;
  private readonly unparsable = new Map<string, { size: number; mtimeMs: number; since: number }>();
  private readonly warnedIgnored = new Set<string>();
  private scanning?: Promise<Outcome[]>;
  private rescan = false;
  private timer?: NodeJS.Timeout;
  private watcher?: FSWatcher;
  private stopped = false;

  constructor(
    private readonly agent: Agent,
    readonly config: PublisherConfig,
    private readonly onOutcome: (o: Outcome) => void = () => {},
  ) {
    this.inbox = resolve(config.inbox);
    this.doneDir = resolve(config.done ?? join(this.inbox, 'done'));
    this.failedDir = resolve(config.failed ?? join(this.inbox, 'failed'));
    this.pollMs = durationOf(config.poll_interval, 1000, 'poll_interval');
    this.incompleteMs = durationOf(config.incomplete_timeout, 30_000, 'incomplete_timeout');
    if (!existsSync(this.inbox)) throw new ConfigError('configuration', [`inbox: directory ${this.inbox} does not exist`]);
    mkdirSync(this.doneDir, { recursive: true });
    mkdirSync(this.failedDir, { recursive: true });
  }

  private get log() {
    return this.agent.log;
  }

  /** Watch the inbox (change events plus polling) until stop(). */
  start(): void {
    try {
      this.watcher = watch(this.inbox, () => this.trigger());
      this.watcher.on('error', () => {});
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'cannot watch the inbox; polling only');
    }
    const tick = () => {
      if (this.stopped) return;
      this.trigger();
      this.timer = setTimeout(tick, this.pollMs);
    };
    tick();
    this.agent.on('online', () => this.trigger());
  }

  /** Scan soon (coalesced with a scan in progress). */
  trigger(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    void this.scanOnce().catch((e) => this.log.error({ err: (e as Error).stack }, 'inbox scan failed'));
  }

  /** Stop watching; the file in hand is finished first. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    await this.scanning?.catch(() => {});
  }

  /** One pass over the inbox, oldest file first. Resolves with what happened to each file looked at. */
  scanOnce(): Promise<Outcome[]> {
    if (this.scanning) return this.scanning;
    this.scanning = (async () => {
      const all: Outcome[] = [];
      do {
        this.rescan = false;
        all.push(...(await this.pass()));
      } while (this.rescan && !this.stopped);
      return all;
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private candidates(): { name: string; mtimeMs: number; size: number }[] {
    const out: { name: string; mtimeMs: number; size: number }[] = [];
    for (const d of readdirSync(this.inbox, { withFileTypes: true })) {
      if (!d.isFile() || IGNORED.test(d.name)) continue;
      const ext = extname(d.name).toLowerCase();
      if (ext !== '.xml' && ext !== '.json') {
        if (!this.warnedIgnored.has(d.name)) {
          this.warnedIgnored.add(d.name);
          this.log.warn({ file: d.name }, 'ignoring a file that is neither .xml nor .json');
        }
        continue;
      }
      try {
        const st = statSync(join(this.inbox, d.name));
        out.push({ name: d.name, mtimeMs: st.mtimeMs, size: st.size });
      } catch {
        /* gone meanwhile */
      }
    }
    return out.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
  }

  private async pass(): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (const c of this.candidates()) {
      if (this.stopped) break;
      const o = await this.processFile(c.name);
      if (!o) continue;
      outcomes.push(o);
      this.onOutcome(o);
      // Keep the order of publication: a file that must be retried holds back the ones after it.
      if (o.status === 'retry') break;
    }
    return outcomes;
  }

  /** Read and check one inbox file: the packet to publish, or Incomplete, or an error saying why it is refused. */
  private prepare(name: string, bytes: Buffer, mtimeMs: number): { prepared: PreparedVOEvent; built?: string } {
    const path = join(this.inbox, name);
    if (extname(name).toLowerCase() === '.json') {
      let data: unknown;
      try {
        data = JSON.parse(bytes.toString('utf8'));
      } catch (e) {
        throw new Incomplete(`not valid JSON: ${(e as Error).message}`);
      }
      const burst = checkBurst(data, name);
      const xml = build(burstEvent(burst, this.config.burst ?? {}, new Date(Math.floor(mtimeMs / 1000) * 1000).toISOString().replace('.000Z', 'Z'), name));
      return { prepared: prepareVOEvent(xml, `${name} (built VOEvent)`, { engine: this.config.validator }), built: xml };
    }
    const v = validate(bytes, { engine: 'fast', semantic: false });
    const syntax = v.errors.find((e) => e.kind === 'xml');
    // Too large or wrongly encoded is final; anything else not well-formed may be a file still being written.
    if (syntax && /larger than|encoding|UTF-16|not valid UTF-8/.test(syntax.message)) throw new InvalidVOEventError(path, [syntax]);
    if (syntax) throw new Incomplete(formatIssue(syntax, path));
    return { prepared: prepareVOEvent(bytes, path, { engine: this.config.validator }) };
  }

  async processFile(name: string): Promise<Outcome | undefined> {
    const path = join(this.inbox, name);
    let bytes: Buffer;
    let st;
    try {
      st = statSync(path);
      bytes = readFileSync(path);
    } catch {
      return undefined; // moved away meanwhile
    }
    let prepared: PreparedVOEvent;
    let built: string | undefined;
    try {
      ({ prepared, built } = this.prepare(name, bytes, st.mtimeMs));
      this.unparsable.delete(name);
    } catch (e) {
      if (e instanceof Incomplete) {
        const now = Date.now();
        const seen = this.unparsable.get(name);
        if (!seen || seen.size !== st.size || seen.mtimeMs !== st.mtimeMs) {
          this.unparsable.set(name, { size: st.size, mtimeMs: st.mtimeMs, since: now });
          return { file: name, status: 'waiting', reason: e.message };
        }
        if (now - seen.since < this.incompleteMs) return { file: name, status: 'waiting', reason: e.message };
        this.unparsable.delete(name);
        return this.fail(name, `${e.message}\n(unchanged for ${Math.round((now - seen.since) / 1000)} s: not a half-written file)`);
      }
      if (e instanceof InvalidVOEventError || e instanceof ConfigError) return this.fail(name, e.message);
      return this.fail(name, (e as Error).message);
    }
    let r: Awaited<ReturnType<typeof publishVOEvent>>;
    try {
      // A broker whose disk is full answers resource-constraint (wait): transient, retried.
      r = await publishVOEvent(this.agent, this.config.node, prepared, { skipIfPresent: true });
    } catch (e) {
      if (isTransient(e)) {
        this.log.warn({ file: name, err: (e as Error).message }, 'not published now; will retry');
        return { file: name, status: 'retry', reason: (e as Error).message };
      }
      const why = e instanceof XmppIqError ? `the broker refused the packet: ${e.message}` : (e as Error).message;
      return this.fail(name, why);
    }
    try {
      if (built) writeFileAtomic(join(this.doneDir, `${name}.voevent.xml`), built);
      const moved = this.move(name, this.doneDir);
      this.log.info({ file: name, id: r.id, ivorn: r.ivorn, node: this.config.node, alreadyPresent: r.alreadyPresent, done: moved }, r.alreadyPresent ? 'already on the node' : 'published');
      return { file: name, status: 'published', id: r.id, ivorn: r.ivorn, alreadyPresent: r.alreadyPresent };
    } catch (e) {
      // Published, but done/ cannot take the record: the file stays in the inbox and the
      // next pass finds the item on the node (no second publication) and moves it then.
      if (isStorageFull(e)) return this.waitForSpace(name, e);
      throw e;
    }
  }

  private fail(name: string, reason: string): Outcome {
    const target = this.freeName(this.failedDir, name);
    try {
      writeFileAtomic(join(this.failedDir, `${target}.reason.txt`), `${new Date().toISOString()} ${name} not published\n${reason}\n`);
    } catch (e) {
      // Without its reason beside it a refused file stays in the inbox, refused again once there is room.
      if (isStorageFull(e)) return this.waitForSpace(name, e);
      throw e;
    }
    renameSync(join(this.inbox, name), join(this.failedDir, target));
    this.log.error({ file: name, reason, failed: join(this.failedDir, target) }, 'not published');
    return { file: name, status: 'failed', reason };
  }

  /** The inbox's file system is full: keep the file where it is and try again at the next pass. */
  private waitForSpace(name: string, e: unknown): Outcome {
    const reason = `the file system of ${this.inbox} is full (${(e as Error).message}): the file stays in the inbox and is retried`;
    this.log.warn({ file: name, err: (e as Error).message }, 'inbox file system full; will retry');
    return { file: name, status: 'retry', reason };
  }

  private move(name: string, dir: string): string {
    const target = join(dir, this.freeName(dir, name));
    renameSync(join(this.inbox, name), target);
    return target;
  }

  /** `name`, or name.<time> when a file of that name is already there. */
  private freeName(dir: string, name: string): string {
    if (!existsSync(join(dir, name))) return name;
    return `${name}.${new Date().toISOString().replace(/[-:]/g, '').replace('.', '_')}`;
  }
}

export function publisherSummary(o: Outcome): string {
  switch (o.status) {
    case 'published':
      return `${o.file}: ${o.alreadyPresent ? 'already published as' : 'published as'} ${o.id}`;
    case 'failed':
      return `${o.file}: FAILED ${o.reason.split('\n')[0]}`;
    default:
      return `${o.file}: ${o.status} (${o.reason.split('\n')[0]})`;
  }
}
