/**
 * `voxnet backup`: a consistent copy of a broker's SQLite database, taken online
 * (SQLite's backup API, safe while the broker writes) and checked before it is kept.
 */
import Database from 'better-sqlite3';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type BackupResult = { file: string; nodes: number; items: number; bytes: number };

export class BackupError extends Error {}

/** The database file of a broker whose `data_dir` is `dataDir`. */
export function databaseFile(dataDir: string): string {
  return join(dataDir, 'voxnet.sqlite');
}

/**
 * Copy the database of `dataDir` to `out`. The copy is written beside `out` under a
 * temporary name, passes `PRAGMA integrity_check`, and only then takes the name `out`:
 * a failed backup never leaves a half-written file where a good one is expected.
 */
export async function backupDatabase(dataDir: string, out: string): Promise<BackupResult> {
  const src = databaseFile(dataDir);
  if (!existsSync(src)) throw new BackupError(`${src}: no broker database here (is data_dir right?)`);
  const target = resolve(out);
  if (target === resolve(src)) throw new BackupError(`${out}: the backup cannot overwrite the database itself`);
  const tmp = `${target}.partial-${process.pid}`;
  const db = new Database(src, { readonly: true, fileMustExist: true });
  try {
    await db.backup(tmp);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new BackupError(`${out}: backup failed: ${(e as Error).message}`);
  } finally {
    db.close();
  }
  // The copy keeps the source's WAL mode; as a backup it is one self-contained file.
  const copy = new Database(tmp);
  copy.pragma('journal_mode = DELETE');
  let nodes = 0;
  let items = 0;
  try {
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`${out}: the copy fails its integrity check (${String(check)})`);
    nodes = (copy.prepare('SELECT count(*) AS n FROM nodes').get() as { n: number }).n;
    items = (copy.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
  } catch (e) {
    copy.close();
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) rmSync(f, { force: true });
    throw e instanceof BackupError ? e : new BackupError(`${out}: the copy is not a VOXnet database: ${(e as Error).message}`);
  }
  copy.close();
  renameSync(tmp, target);
  return { file: target, nodes, items, bytes: statSync(target).size };
}
