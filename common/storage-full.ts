/**
 * Whether an exception means "the disk is full": SQLite's SQLITE_FULL
 * (better-sqlite3 SqliteError, code SQLITE_FULL, also as the extended code of a
 * failed commit), SQLITE_IOERR_SHMSIZE (the WAL index could not grow: opening a
 * database on a full disk, or a WAL past 4096 frames) or a file-system ENOSPC /
 * EDQUOT (quota), PostgreSQL's disk_full (SQLSTATE 53100). Such a failure passes
 * when space returns: the broker answers resource-constraint (type wait) and keeps
 * its release jobs for later; an agent keeps the file in hand and retries.
 */
/** SQLSTATE disk_full. */
const POSTGRES_DISK_FULL = '53100';
const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', 'SQLITE_IOERR_SHMSIZE', POSTGRES_DISK_FULL]);

export function isStorageFull(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (FULL_CODES.has(code) || code.startsWith('SQLITE_FULL_'));
}

/**
 * The code of an error meaning "the database server cannot be reached" (a lost or
 * refused PostgreSQL connection). Like a full disk, it passes: nothing was stored,
 * the broker refuses writes with a `wait` error and retries its own work later.
 */
export const STORAGE_UNAVAILABLE = 'STORAGE_UNAVAILABLE';

export function isStorageUnavailable(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { code?: unknown }).code === STORAGE_UNAVAILABLE;
}

/** A storage failure that passes by itself (full, or unreachable): keep the work and retry. */
export function storageFailurePasses(err: unknown): boolean {
  return isStorageFull(err) || isStorageUnavailable(err);
}
