/**
 * What the telescope agent does once it has decided: pluggable actions.
 *
 *   http     POST the LCO-shaped request group to the portal URL (JSON), cancel with
 *            POST URL/{id}/cancel/ (the observation-portal convention); an update is
 *            a cancel of the old request followed by a new submission.
 *   command  run a program with the whole story as JSON on its standard input
 *            ({ action, event, decision, request_group, previous_id }); exit 0 is
 *            success, and a JSON object with "id" (or a single word) on standard
 *            output names the request.
 *
 * Failures that may pass (network errors, timeouts, HTTP 408/429/5xx, non-zero
 * exits) are retried with exponential backoff; others fail at once. Either way
 * the caller gets an ActionError saying how many attempts were made and why.
 */
import { spawn } from 'node:child_process';
import type { VOEvent } from '../../voevent/index.ts';
import type { Decision } from './decide.ts';
import type { RequestGroup } from './requests.ts';
import type { ActionRules, RetryPolicy } from './rules.ts';
import { backoffDelay } from '../../common/backoff.ts';

/** Which request an action sends to the telescope's scheduler (a decision's trigger/schedule submits). */
export type RequestKind = 'submit' | 'update' | 'cancel';

export interface ActionInput {
  kind: RequestKind;
  event: VOEvent;
  decision: Decision;
  requestGroup?: RequestGroup;
  /** The request being updated or cancelled. */
  previousId?: string;
}

export interface ActionResult {
  /** The new request's id (submit / update), when the telescope says. */
  id?: string;
  attempts: number;
  /** What the telescope answered (parsed JSON or text). */
  response?: unknown;
}

export interface Action {
  readonly type: string;
  perform(input: ActionInput, signal?: AbortSignal): Promise<ActionResult>;
  /**
   * After a crash between sending a submit/update and recording it: the request
   * that attempt created, if the telescope has it (one with the request group's
   * name that is not among `known` ids and not cancelled); undefined when none is
   * found or the action cannot tell (then the action is performed again).
   */
  find?(input: ActionInput, known: Set<string>, signal?: AbortSignal): Promise<ActionResult | undefined>;
}

export class ActionError extends Error {
  constructor(message: string, readonly retryable: boolean, public attempts = 1, readonly status?: number) {
    super(message);
  }
}

export interface RetryHooks {
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(signal.reason ?? new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Delay before attempt n+1 (n ≥ 1): initial × factor^(n−1), at most max; exact (a telescope's API is not a crowd). */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  return backoffDelay(attempt - 1, { initialMs: policy.initial, maxMs: policy.max, factor: policy.factor, jitter: 'none' });
}

/** Run fn until it succeeds, fails for good, or the attempts run out. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<{ value: T; attempts: number }> {
  const wait = hooks.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const retryable = !(err instanceof ActionError) || err.retryable;
      if (!retryable || attempt >= policy.attempts || hooks.signal?.aborted) {
        const ae = err instanceof ActionError ? err : new ActionError(err.message, true);
        ae.attempts = attempt;
        ae.message = `${ae.message.replace(/ \(after \d+ attempts?\)$/, '')} (after ${attempt} attempt${attempt > 1 ? 's' : ''})`;
        throw ae;
      }
      const delay = retryDelay(policy, attempt);
      hooks.onRetry?.(err, attempt, delay);
      await wait(delay, hooks.signal);
    }
  }
}

/** A JSON-friendly decision (dates as ISO strings) for logs and commands. */
export function decisionJson(d: Decision): Record<string, unknown> {
  return JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------

export interface HttpActionOptions {
  url: string;
  cancelUrl?: string;
  headers?: Record<string, string>;
  token?: string;
  timeout: number;
  retry: RetryPolicy;
  onRetry?: RetryHooks['onRetry'];
}

export class HttpAction implements Action {
  readonly type = 'http';
  constructor(private readonly o: HttpActionOptions) {}

  cancelUrlFor(id: string): string {
    const enc = encodeURIComponent(id);
    if (this.o.cancelUrl) return this.o.cancelUrl.replace('{id}', enc);
    return `${this.o.url.replace(/\/?$/, '/')}${enc}/cancel/`;
  }

  private async post(url: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; body: unknown; location?: string }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', ...this.o.headers };
    if (this.o.token) headers.authorization = `Token ${this.o.token}`;
    let res: Response;
    try {
      const timeout = AbortSignal.timeout(this.o.timeout);
      res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.o.timeout} ms` : err.cause?.code ?? err.message;
      throw new ActionError(`POST ${url}: ${why}`, true);
    }
    const text = await res.text().catch(() => '');
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep text */
    }
    if (!res.ok) {
      const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
      throw new ActionError(`POST ${url}: HTTP ${res.status}${text ? `: ${text.slice(0, 300)}` : ''}`, retryable, 1, res.status);
    }
    return { status: res.status, body: parsed, location: res.headers.get('location') ?? undefined };
  }

  private async submit(group: RequestGroup, signal?: AbortSignal) {
    const r = await withRetry(() => this.post(this.o.url, group, signal), this.o.retry, { signal, onRetry: this.o.onRetry });
    const body = r.value.body as { id?: unknown } | undefined;
    let id = body && typeof body === 'object' && body.id !== undefined && body.id !== null ? String(body.id) : undefined;
    if (id === undefined && r.value.location) id = r.value.location.replace(/\/+$/, '').split('/').pop();
    return { id, attempts: r.attempts, response: r.value.body };
  }

  private async cancel(id: string | undefined, signal?: AbortSignal) {
    if (id === undefined) throw new ActionError('cannot cancel: the telescope gave the request no id', false);
    try {
      const r = await withRetry(() => this.post(this.cancelUrlFor(id), {}, signal), this.o.retry, { signal, onRetry: this.o.onRetry });
      return { attempts: r.attempts, response: r.value.body };
    } catch (e) {
      // Already gone (completed, expired, cancelled by hand): nothing left to cancel.
      if (e instanceof ActionError && e.status === 404) return { attempts: e.attempts, response: 'not found' };
      throw e;
    }
  }

  /**
   * The request groups named like this one (the LCO observation portal's
   * `GET <url>?name=`, paginated `{results: [...]}` or a bare list).
   */
  async find(input: ActionInput, known: Set<string>, signal?: AbortSignal): Promise<ActionResult | undefined> {
    const name = input.requestGroup?.name;
    if (input.kind === 'cancel' || !name) return undefined;
    const headers: Record<string, string> = { accept: 'application/json', ...this.o.headers };
    if (this.o.token) headers.authorization = `Token ${this.o.token}`;
    const url = `${this.o.url}${this.o.url.includes('?') ? '&' : '?'}name=${encodeURIComponent(name)}`;
    const timeout = AbortSignal.timeout(this.o.timeout);
    const res = await fetch(url, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    if (!res.ok) throw new ActionError(`GET ${url}: HTTP ${res.status}`, res.status >= 500);
    const body = (await res.json()) as unknown;
    const list = (Array.isArray(body) ? body : (body as { results?: unknown })?.results) as { id?: unknown; name?: unknown; state?: unknown }[] | undefined;
    const hit = (list ?? []).find((g) => g && g.name === name && g.id !== undefined && g.id !== null && !known.has(String(g.id)) && String(g.id) !== input.previousId && g.state !== 'CANCELED');
    return hit ? { id: String(hit.id), attempts: 0, response: hit } : undefined;
  }

  async perform(input: ActionInput, signal?: AbortSignal): Promise<ActionResult> {
    if (input.kind === 'cancel') return this.cancel(input.previousId, signal);
    if (!input.requestGroup) throw new ActionError(`${input.kind} needs a request group`, false);
    let attempts = 0;
    if (input.kind === 'update' && input.previousId !== undefined) attempts += (await this.cancel(input.previousId, signal)).attempts;
    const s = await this.submit(input.requestGroup, signal);
    return { ...s, attempts: attempts + s.attempts };
  }
}

// ---------------------------------------------------------------------------

export interface CommandActionOptions {
  command: string[];
  env?: Record<string, string>;
  timeout: number;
  retry: RetryPolicy;
  onRetry?: RetryHooks['onRetry'];
}

export class CommandAction implements Action {
  readonly type = 'command';
  constructor(private readonly o: CommandActionOptions) {}

  private run(stdin: string, kind: RequestKind, signal?: AbortSignal): Promise<string> {
    const [cmd, ...args] = this.o.command as [string, ...string[]];
    return new Promise((res, rej) => {
      let child;
      try {
        child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...this.o.env, VOXNET_ACTION: kind }, signal });
      } catch (e) {
        return rej(new ActionError(`${cmd}: ${(e as Error).message}`, false));
      }
      let out = '';
      let err = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.o.timeout);
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.stdin.on('error', () => {}); // the program may exit without reading
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        rej(new ActionError(`${cmd}: ${e.message}`, e.code !== 'ENOENT' && e.code !== 'EACCES'));
      });
      child.on('close', (code: number | null, sig: string | null) => {
        clearTimeout(timer);
        if (timedOut) return rej(new ActionError(`${cmd}: no exit within ${this.o.timeout} ms`, true));
        if (code === 0) return res(out);
        const detail = err.trim().split('\n').slice(-3).join(' | ');
        rej(new ActionError(`${cmd}: exited with ${code ?? sig}${detail ? `: ${detail}` : ''}`, true));
      });
      child.stdin.end(stdin);
    });
  }

  async perform(input: ActionInput, signal?: AbortSignal): Promise<ActionResult> {
    const payload = JSON.stringify({
      action: input.kind,
      event: input.event,
      decision: decisionJson(input.decision),
      ...(input.requestGroup ? { request_group: input.requestGroup } : {}),
      ...(input.previousId !== undefined ? { previous_id: input.previousId } : {}),
    });
    const r = await withRetry(() => this.run(payload, input.kind, signal), this.o.retry, { signal, onRetry: this.o.onRetry });
    const text = r.value.trim();
    let response: unknown = text || undefined;
    let id: string | undefined;
    try {
      const j = JSON.parse(text) as { id?: unknown };
      response = j;
      if (j && typeof j === 'object' && j.id !== undefined && j.id !== null) id = String(j.id);
    } catch {
      if (/^\S+$/.test(text)) id = text;
    }
    return { attempts: r.attempts, response, ...(input.kind !== 'cancel' && id !== undefined ? { id } : {}) };
  }
}

// ---------------------------------------------------------------------------

export type ActionFactory = (rules: ActionRules, hooks: { onRetry?: RetryHooks['onRetry']; env?: NodeJS.ProcessEnv }) => Action;

const factories = new Map<string, ActionFactory>([
  [
    'http',
    (r, h) => {
      if (r.type !== 'http') throw new Error('not an http action');
      const env = h.env ?? process.env;
      const token = r.tokenEnv ? env[r.tokenEnv] : undefined;
      if (r.tokenEnv && !token) throw new Error(`action.token_env: the environment variable ${r.tokenEnv} is not set`);
      return new HttpAction({ url: r.url, cancelUrl: r.cancelUrl, headers: r.headers, token, timeout: r.timeout, retry: r.retry, onRetry: h.onRetry });
    },
  ],
  [
    'command',
    (r, h) => {
      if (r.type !== 'command') throw new Error('not a command action');
      return new CommandAction({ command: r.command, env: r.env, timeout: r.timeout, retry: r.retry, onRetry: h.onRetry });
    },
  ],
]);

export function createAction(rules: ActionRules, hooks: { onRetry?: RetryHooks['onRetry']; env?: NodeJS.ProcessEnv } = {}): Action {
  const f = factories.get(rules.type);
  if (!f) throw new Error(`unknown action type "${rules.type}"`);
  return f(rules, hooks);
}
