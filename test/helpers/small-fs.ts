/**
 * A small file system that a test fills up: a size-limited tmpfs mounted on a
 * temporary directory (the tests run as root here). Where mounting is refused
 * (no root, no CAP_SYS_ADMIN), `skip` says why and the test skips with it.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type SmallFs = {
  dir: string;
  /** Write a ballast file until the file system refuses a single byte more (ENOSPC). */
  fill(): void;
  /** Give back `bytes` of the ballast (it shrinks): a little space returns. */
  give(bytes: number): void;
  /** Delete the ballast (if any): space returns. */
  free(): void;
  unmount(): void;
};

export function mountSmallFs(sizeMiB: number): SmallFs | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-smallfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    return { skip: `cannot mount a ${sizeMiB} MiB tmpfs (needs root): ${stderr || (e as Error).message}` };
  }
  const ballast = join(dir, 'ballast');
  return {
    dir,
    fill() {
      const fd = openSync(ballast, 'a');
      try {
        // Big blocks first, then single bytes: the last free byte goes too.
        for (const size of [1 << 20, 4096, 1]) {
          const buf = Buffer.alloc(size, 0x42);
          try {
            for (;;) writeSync(fd, buf);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    give(bytes) {
      truncateSync(ballast, Math.max(0, statSync(ballast).size - bytes));
    },
    free() {
      rmSync(ballast, { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
