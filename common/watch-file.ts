/**
 * Tell a process when a file it follows (the access policy) should be read again: the file changed
 * (watched through its directory, so editors that write a new file and rename it
 * over the old one are seen too), or the process received SIGHUP.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export type ReloadCause = 'file' | 'SIGHUP';

export type WatchOptions = {
  /** Also reload on SIGHUP (default true). */
  sighup?: boolean;
  /** Changes closer together than this are one reload (editors write in several steps). */
  debounceMs?: number;
  onError?: (err: Error) => void;
};

/** Start watching; returns a function that stops. */
export function watchFile(file: string, reload: (cause: ReloadCause) => void, opts: WatchOptions = {}): () => void {
  const path = resolve(file);
  const name = basename(path);
  const debounceMs = opts.debounceMs ?? 150;
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename !== null && filename.toString() !== name) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('file'), debounceMs);
    });
    watcher.on('error', (err) => opts.onError?.(err));
  } catch (err) {
    opts.onError?.(err as Error);
  }
  const onSighup = () => reload('SIGHUP');
  if (opts.sighup !== false) process.on('SIGHUP', onSighup);
  return () => {
    clearTimeout(timer);
    watcher?.close();
    process.off('SIGHUP', onSighup);
  };
}
