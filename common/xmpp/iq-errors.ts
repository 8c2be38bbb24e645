/** Errors of agent operations; `transient` ones are worth retrying later. */
import type { Element } from '@xmpp/xml';
import { NS } from '../ns.ts';

/** An IQ answered with an error. `transient` errors are worth retrying later. */
export class XmppIqError extends Error {
  override name = 'XmppIqError';
  constructor(
    /** Stanza error condition, e.g. forbidden, item-not-found. */
    readonly condition: string,
    /** Error type: cancel, modify, auth, wait. */
    readonly type: string | undefined,
    readonly text: string | undefined,
    /** XEP-0060 application condition, e.g. invalid-payload. */
    readonly pubsub?: string,
  ) {
    super(`${condition}${pubsub ? ` (${pubsub})` : ''}${text ? `: ${text}` : ''}`);
  }
  get transient(): boolean {
    return this.type === 'wait' || ['remote-server-not-found', 'remote-server-timeout', 'service-unavailable', 'resource-constraint', 'internal-server-error'].includes(this.condition);
  }
  static fromReply(reply: Element): XmppIqError {
    const err = reply.getChild('error');
    const kids = err?.getChildElements() ?? [];
    const cond = kids.find((k) => k.attrs.xmlns === NS.STANZAS && k.name !== 'text');
    const text = kids.find((k) => k.name === 'text')?.text();
    const app = kids.find((k) => k.attrs.xmlns !== NS.STANZAS);
    return new XmppIqError(cond?.name ?? 'undefined-condition', err?.attrs.type, text || undefined, app?.name);
  }
}

/** The connection is down (the request was not sent, or its reply can no longer come). */
export class NotConnectedError extends Error {
  override name = 'NotConnectedError';
  readonly transient = true;
}

export class IqTimeoutError extends Error {
  override name = 'IqTimeoutError';
  readonly transient = true;
}

/** Whether an error from the agent is worth retrying later (connection, timeout, service down). */
export function isTransient(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { transient?: boolean }).transient === true;
}
