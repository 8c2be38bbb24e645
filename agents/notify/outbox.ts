/**
 * The notification agent's durable state (SQLite, one file):
 *
 * - outbox: one row per (kind, endpoint, node, item) still to send, sent, failed or
 *   cancelled. Inserting is idempotent on that key, so an item handled twice (a
 *   crash between the handler and the follow cursor) is enqueued once. A row is
 *   written before the item counts as handled: a restart loses nothing.
 * - delivered: which endpoint received which alert (IVORN, node, item, its
 *   Message-ID), so that a retraction reaches everyone who got the original.
 *   Rows older than `keepMs` are pruned.
 */
import type Database from 'better-sqlite3';
import { openDurableSqlite } from '../../common/sqlite-file.ts';

export type Kind = 'alert' | 'retraction';

export type Notification = {
  kind: Kind;
  endpoint: string;
  rule: string;
  node: string;
  item: string;
  ivorn?: string;
  /** Rendered content (JSON) handed to the channel. */
  message: unknown;
  /** Not before (ms since epoch): quiet hours. */
  due: number;
};

export type OutboxRow = Notification & { id: number; attempts: number; created: number; lastError?: string };

export type Delivered = { endpoint: string; node: string; item: string; ivorn?: string; rule: string; messageId?: string; summary?: string; at: number };

export class Outbox {
  private readonly db: Database.Database;

  constructor(file: string, private readonly keepMs = 30 * 86_400_000) {
    this.db = openDurableSqlite(file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL, endpoint TEXT NOT NULL, rule TEXT NOT NULL,
        node TEXT NOT NULL, item TEXT NOT NULL, ivorn TEXT,
        message TEXT NOT NULL,
        due INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending', last_error TEXT,
        created INTEGER NOT NULL, done_at INTEGER);
      CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, due);
      CREATE TABLE IF NOT EXISTS delivered (
        endpoint TEXT NOT NULL, node TEXT NOT NULL, item TEXT NOT NULL, ivorn TEXT, rule TEXT NOT NULL,
        message_id TEXT, summary TEXT, at INTEGER NOT NULL,
        PRIMARY KEY (endpoint, node, item));
      CREATE INDEX IF NOT EXISTS delivered_ivorn ON delivered(ivorn);`);
  }

  static keyOf(n: Pick<Notification, 'kind' | 'endpoint' | 'node' | 'item'>): string {
    return `${n.kind}\n${n.endpoint}\n${n.node}\n${n.item}`;
  }

  /** Enqueue (idempotent); true when the row is new. */
  add(n: Notification, now = Date.now()): boolean {
    const r = this.db
      .prepare(`INSERT OR IGNORE INTO outbox (key, kind, endpoint, rule, node, item, ivorn, message, due, created) VALUES (?,?,?,?,?,?,?,?,?,?)`)
      .run(Outbox.keyOf(n), n.kind, n.endpoint, n.rule, n.node, n.item, n.ivorn ?? null, JSON.stringify(n.message), n.due, now);
    return r.changes === 1;
  }

  /** Several changes at once (all or none). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Pending rows due by `now`, oldest first. */
  due(now = Date.now()): OutboxRow[] {
    return (this.db.prepare(`SELECT * FROM outbox WHERE state = 'pending' AND due <= ? ORDER BY due, id`).all(now) as Record<string, unknown>[]).map(rowOf);
  }

  /** The earliest due time of a pending row, if any. */
  nextDue(): number | undefined {
    const r = this.db.prepare(`SELECT MIN(due) AS d FROM outbox WHERE state = 'pending'`).get() as { d: number | null };
    return r.d ?? undefined;
  }

  pending(): OutboxRow[] {
    return (this.db.prepare(`SELECT * FROM outbox WHERE state = 'pending' ORDER BY due, id`).all() as Record<string, unknown>[]).map(rowOf);
  }

  /** Mark sent; alerts are remembered as delivered (for retractions). */
  sent(row: OutboxRow, messageId: string | undefined, now = Date.now()): void {
    this.transaction(() => {
      this.db.prepare(`UPDATE outbox SET state = 'sent', done_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?`).run(now, row.id);
      if (row.kind === 'alert') {
        this.db
          .prepare(`INSERT OR REPLACE INTO delivered (endpoint, node, item, ivorn, rule, message_id, summary, at) VALUES (?,?,?,?,?,?,?,?)`)
          .run(row.endpoint, row.node, row.item, row.ivorn ?? null, row.rule, messageId ?? null, (row.message as { summary?: string }).summary ?? null, now);
      }
      this.db.prepare(`DELETE FROM outbox WHERE state != 'pending' AND done_at < ?`).run(now - this.keepMs);
      this.db.prepare(`DELETE FROM delivered WHERE at < ?`).run(now - this.keepMs);
    });
  }

  /** A failed attempt: try again at `retryAt`, or give up (state failed). */
  failed(row: OutboxRow, error: string, retryAt: number | undefined, now = Date.now()): void {
    if (retryAt === undefined) this.db.prepare(`UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?, done_at = ? WHERE id = ?`).run(error, now, row.id);
    else this.db.prepare(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, due = ? WHERE id = ?`).run(error, retryAt, row.id);
  }

  /** Who received an alert with one of these IVORNs. */
  deliveredFor(ivorns: string[]): Delivered[] {
    if (ivorns.length === 0) return [];
    return (this.db.prepare(`SELECT * FROM delivered WHERE ivorn IN (${ivorns.map(() => '?').join(',')})`).all(...ivorns) as Record<string, unknown>[]).map(deliveredOf);
  }

  /** Who received this item of this node. */
  deliveredItem(node: string, item: string): Delivered[] {
    return (this.db.prepare(`SELECT * FROM delivered WHERE node = ? AND item = ?`).all(node, item) as Record<string, unknown>[]).map(deliveredOf);
  }

  /** Cancel alerts not yet sent for these IVORNs (retracted before anyone got them); returns the endpoints spared. */
  cancelPending(ivorns: string[]): string[] {
    if (ivorns.length === 0) return [];
    const q = ivorns.map(() => '?').join(',');
    return this.transaction(() => {
      const rows = this.db.prepare(`SELECT endpoint FROM outbox WHERE state = 'pending' AND kind = 'alert' AND ivorn IN (${q})`).all(...ivorns) as { endpoint: string }[];
      this.db.prepare(`UPDATE outbox SET state = 'cancelled', done_at = ? WHERE state = 'pending' AND kind = 'alert' AND ivorn IN (${q})`).run(Date.now(), ...ivorns);
      return rows.map((r) => r.endpoint);
    });
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.db.prepare(`SELECT state, COUNT(*) AS n FROM outbox GROUP BY state`).all() as { state: string; n: number }[]) out[r.state] = r.n;
    return out;
  }

  close(): void {
    this.db.close();
  }
}

function rowOf(r: Record<string, unknown>): OutboxRow {
  return {
    id: r.id as number,
    kind: r.kind as Kind,
    endpoint: r.endpoint as string,
    rule: r.rule as string,
    node: r.node as string,
    item: r.item as string,
    ivorn: (r.ivorn as string | null) ?? undefined,
    message: JSON.parse(r.message as string),
    due: r.due as number,
    attempts: r.attempts as number,
    created: r.created as number,
    lastError: (r.last_error as string | null) ?? undefined,
  };
}

function deliveredOf(r: Record<string, unknown>): Delivered {
  return {
    endpoint: r.endpoint as string, node: r.node as string, item: r.item as string, ivorn: (r.ivorn as string | null) ?? undefined,
    rule: r.rule as string, messageId: (r.message_id as string | null) ?? undefined, summary: (r.summary as string | null) ?? undefined, at: r.at as number,
  };
}
