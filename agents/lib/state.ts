/**
 * An agent's small durable state: per node the cursor (the newest item fetched
 * from the service with nothing missing before it) and the ids of recently
 * handled items, plus the recently handled IVORNs. Kept in one JSON file that is
 * replaced atomically (write a temporary file, fsync, rename), so a crash at any
 * instant leaves either the old or the new state, never a torn one.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type NodeState = {
  /** Newest item confirmed by a fetch: every item up to it was handled or skipped. */
  cursor?: string;
  /** Ids of recently handled items, oldest first. */
  ids: string[];
};

type StateFile = { version: 1; nodes: Record<string, NodeState>; ivorns: string[] };

/**
 * Write a file so that readers see either the old or the new content, in two
 * steps: the returned function renames the fully written (and fsynced)
 * temporary file into place. Between the two, the caller can do the thing the
 * new content records, leaving only the instant of the rename for a crash to
 * fall into.
 */
export function stageFileAtomic(file: string, data: string | Uint8Array, opts: { fsync?: boolean } = {}): () => void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    // write(2) may write less than asked (a nearly full disk): go on until all is written or it fails.
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
    if (opts.fsync !== false) fsyncSync(fd);
  } catch (e) {
    // A full disk (ENOSPC) leaves no half-written temporary file behind.
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* ignore */
    }
    throw e;
  }
  closeSync(fd);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    try {
      renameSync(tmp, file);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        /* ignore */
      }
      throw e;
    }
  };
}

/** Write a file so that readers see either the old or the new content (temporary file, fsync, rename). */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: { fsync?: boolean } = {}): void {
  stageFileAtomic(file, data, opts)();
}

export type StateOptions = {
  /** Ids remembered per node (default 2000). */
  maxIds?: number;
  /** IVORNs remembered (default 5000). */
  maxIvorns?: number;
  /** fsync before rename (default true). */
  fsync?: boolean;
};

export class AgentState {
  private readonly nodes = new Map<string, { cursor?: string; ids: string[]; idSet: Set<string> }>();
  private ivorns: string[] = [];
  private ivornSet = new Set<string>();
  private readonly maxIds: number;
  private readonly maxIvorns: number;

  /** `file` undefined keeps the state in memory only. */
  constructor(readonly file: string | undefined, private readonly opts: StateOptions = {}) {
    this.maxIds = opts.maxIds ?? 2000;
    this.maxIvorns = opts.maxIvorns ?? 5000;
    if (file && existsSync(file)) this.load(file);
  }

  private load(file: string): void {
    let data: StateFile;
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as StateFile;
    } catch (e) {
      throw new Error(`agent state ${file} is unreadable (${(e as Error).message}); move it away to start afresh`);
    }
    if (data.version !== 1 || typeof data.nodes !== 'object') throw new Error(`agent state ${file} has an unknown format`);
    for (const [node, s] of Object.entries(data.nodes)) {
      const ids = Array.isArray(s.ids) ? s.ids.slice(-this.maxIds) : [];
      this.nodes.set(node, { cursor: s.cursor, ids, idSet: new Set(ids) });
    }
    this.ivorns = Array.isArray(data.ivorns) ? data.ivorns.slice(-this.maxIvorns) : [];
    this.ivornSet = new Set(this.ivorns);
  }

  private node(node: string) {
    let n = this.nodes.get(node);
    if (!n) this.nodes.set(node, (n = { ids: [], idSet: new Set() }));
    return n;
  }

  cursor(node: string): string | undefined {
    return this.nodes.get(node)?.cursor;
  }

  setCursor(node: string, id: string | undefined): void {
    this.node(node).cursor = id;
  }

  hasId(node: string, id: string): boolean {
    return this.nodes.get(node)?.idSet.has(id) ?? false;
  }

  hasIvorn(ivorn: string): boolean {
    return this.ivornSet.has(ivorn);
  }

  /** Remember that an item (and its IVORN) was handled. */
  remember(node: string, id: string, ivorn?: string): void {
    const n = this.node(node);
    if (!n.idSet.has(id)) {
      n.ids.push(id);
      n.idSet.add(id);
      while (n.ids.length > this.maxIds) n.idSet.delete(n.ids.shift()!);
    }
    if (ivorn && !this.ivornSet.has(ivorn)) {
      this.ivorns.push(ivorn);
      this.ivornSet.add(ivorn);
      while (this.ivorns.length > this.maxIvorns) this.ivornSet.delete(this.ivorns.shift()!);
    }
  }

  toJSON(): StateFile {
    const nodes: Record<string, NodeState> = {};
    for (const [k, v] of this.nodes) nodes[k] = v.cursor !== undefined ? { cursor: v.cursor, ids: v.ids } : { ids: v.ids };
    return { version: 1, nodes, ivorns: this.ivorns };
  }

  /** Persist now (synchronously, atomically). No-op for in-memory state. */
  save(): void {
    this.stage()();
  }

  /**
   * Write the current state to a temporary file now; the returned function puts
   * it in place. Record an item, stage, handle the item, commit: a crash can then
   * only repeat an item if it strikes between the end of handling and the rename.
   */
  stage(): () => void {
    if (!this.file) return () => {};
    return stageFileAtomic(this.file, JSON.stringify(this.toJSON()), { fsync: this.opts.fsync });
  }
}

/**
 * One process per state file: a lock file holding the owner's pid. A lock left
 * by a process that no longer exists (e.g. killed) is taken over.
 */
export function lockStateFile(file: string): () => void {
  const lock = `${file}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          unlinkSync(lock);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(lock, 'utf8').trim());
      if (pid && processAlive(pid)) {
        throw new Error(`agent state ${file} is in use by process ${pid}${pid === process.pid ? ' (this one)' : ''} (lock ${lock})`);
      }
      unlinkSync(lock);
    }
  }
  throw new Error(`could not lock ${file}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
