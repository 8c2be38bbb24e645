/**
 * The store a broker's configuration names: SQLite in `dataDir` (the embedded
 * default) or PostgreSQL at `url`.
 */
import type { Store } from './store.ts';
import type { MigrationOptions } from './sql.ts';
import { SqliteStore } from './sqlite.ts';
import { PostgresStore, redactUrl } from './postgres.ts';

export type StorageChoice = { driver: 'sqlite' | 'postgres'; synchronous: 'full' | 'normal'; url?: string };

export function openStore(storage: StorageChoice, dataDir: string | undefined, opts: MigrationOptions = {}): Store {
  if (storage.driver === 'postgres') return new PostgresStore(storage.url!, opts);
  return new SqliteStore(dataDir!, { synchronous: storage.synchronous, ...opts });
}

/** Where the store keeps its data, for logs (a PostgreSQL URL without its password). */
export function storeLocation(storage: StorageChoice, dataDir: string | undefined): string {
  return storage.driver === 'postgres' ? redactUrl(storage.url!) : dataDir!;
}
