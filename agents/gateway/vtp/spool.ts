/**
 * The VTP broker's spool: the events taken from VOXnet nodes, numbered in
 * arrival order, and per subscriber (its IVO, else its address) the number up
 * to which it acknowledged everything. A subscriber that comes back is sent
 * what it had not acknowledged; a broker restart loses nothing because the
 * follower's cursor only moves once an event is in the spool. Old events are
 * trimmed by count and age. SQLite (better-sqlite3, WAL).
 */
import type Database from 'better-sqlite3';
import { openDurableSqlite } from '../../../common/sqlite-file.ts';

export type SpooledEvent = { seq: number; ivorn: string; node: string; xml: string };

export class Spool {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly after: Database.Statement;
  private readonly head: Database.Statement;
  private readonly getAcked: Database.Statement;
  private readonly setAcked: Database.Statement;
  private readonly trimCount: Database.Statement;
  private readonly trimAge: Database.Statement;

  constructor(file: string, private readonly keep: { events?: number; ageMs?: number } = {}) {
    this.db = openDurableSqlite(file);
    this.db.exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, ivorn TEXT NOT NULL UNIQUE, node TEXT NOT NULL, xml TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS subscribers (id TEXT PRIMARY KEY, acked INTEGER NOT NULL, seen_at INTEGER NOT NULL);`);
    this.insert = this.db.prepare('INSERT INTO events (ivorn, node, xml, at) VALUES (?, ?, ?, ?) ON CONFLICT(ivorn) DO NOTHING');
    this.after = this.db.prepare('SELECT seq, ivorn, node, xml FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
    this.head = this.db.prepare("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) AS seq");
    this.getAcked = this.db.prepare('SELECT acked FROM subscribers WHERE id = ?');
    this.setAcked = this.db.prepare('INSERT INTO subscribers (id, acked, seen_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET acked = MAX(acked, excluded.acked), seen_at = excluded.seen_at');
    this.trimCount = this.db.prepare('DELETE FROM events WHERE seq <= ?');
    this.trimAge = this.db.prepare('DELETE FROM events WHERE at < ?');
  }

  /** Add an event (durable on return); false when its IVORN is already spooled. */
  append(ivorn: string, node: string, xml: string): boolean {
    const added = this.insert.run(ivorn, node, xml, Date.now()).changes > 0;
    if (added) this.trim();
    return added;
  }

  /** The newest sequence number ever given (0: none). */
  headSeq(): number {
    return (this.head.get() as { seq: number }).seq;
  }

  read(afterSeq: number, max = 100): SpooledEvent[] {
    return this.after.all(afterSeq, max) as SpooledEvent[];
  }

  /** Up to which sequence number a subscriber acknowledged everything (undefined: never seen). */
  acked(subscriber: string): number | undefined {
    return (this.getAcked.get(subscriber) as { acked: number } | undefined)?.acked;
  }

  setAckedUpTo(subscriber: string, seq: number): void {
    this.setAcked.run(subscriber, seq, Date.now());
  }

  private trim(): void {
    const max = this.keep.events ?? 10_000;
    this.trimCount.run(this.headSeq() - max);
    if (this.keep.ageMs) this.trimAge.run(Date.now() - this.keep.ageMs);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
