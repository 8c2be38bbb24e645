/**
 * Whether an exception means "the disk is full": SQLite's SQLITE_FULL
 * (better-sqlite3 SqliteError, code SQLITE_FULL, also as the extended code of a
 * failed commit), SQLITE_IOERR_SHMSIZE (the WAL index could not grow: opening a
 * database on a full disk, or a WAL past 4096 frames) or a file-system ENOSPC /
 * EDQUOT (quota). Such a failure passes
 * when space returns: the broker answers resource-constraint (type wait) and keeps
 * its release jobs for later; an agent keeps the file in hand and retries.
 */
const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', 'SQLITE_IOERR_SHMSIZE']);

export function isStorageFull(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (FULL_CODES.has(code) || code.startsWith('SQLITE_FULL_'));
}
