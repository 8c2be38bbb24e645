/** Wait until a condition holds, checking every 25 ms; fails with "timed out waiting for <what>". */
export async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  await untilValue(() => (pred() ? true : undefined), timeoutMs, what);
}

/**
 * Wait until `check` (sync or async) returns a value other than undefined, false or
 * null, checking every `everyMs`; resolves with it, fails with "timed out waiting for <what>".
 */
export async function untilValue<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number, what: string, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
