/**
 * The running crossmatch agent: the agent SDK (connect with reconnection,
 * follow with catch-up and dedupe, publish) wired to CrossmatchAgent. Used by
 * the CLI and the end-to-end tests.
 */
import { join } from 'node:path';
import { xml, type Element } from '@xmpp/xml';
import type { CrossmatchTargets } from '../../sky/index.ts';
import {
  backoffDelay, connectAgent, ensureNode, isTransient, publishVOEvent, XmppIqError, type Agent, type ConnectionOptions, type FollowOptions, type Logger,
} from '../lib/index.ts';
import { CrossmatchAgent, loadTargets, type Outcome, type ResultSink } from './agent.ts';
import type { FetchLike } from './alert.ts';
import type { CrossmatchConfig } from './config.ts';
import { Ledger } from './ledger.ts';

const PUBSUB = 'http://jabber.org/protocol/pubsub';

export interface RunCrossmatchOptions {
  config: CrossmatchConfig;
  connection: ConnectionOptions;
  /** Prepared targets (loaded from the configuration when absent). */
  targets?: CrossmatchTargets;
  log?: Logger;
  /** Keeps the SDK's follow cursors and, unless config.state_file says otherwise, the ledger. In memory when absent. */
  stateDir?: string;
  follow?: FollowOptions;
  fetch?: FetchLike;
  now?: () => Date;
  onOutcome?: (o: Outcome, item: { node: string; id: string }) => void;
}

export interface RunningCrossmatch {
  sdk: Agent;
  agent: CrossmatchAgent;
  stop(): Promise<void>;
}

/** Retry an operation on transient failures (connection down, timeout, service busy). */
async function withRetry<T>(what: string, log: Logger | undefined, fn: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e) || i + 1 >= attempts) throw e;
      const delay = backoffDelay(i, { initialMs: 1000, maxMs: 15_000 });
      log?.warn({ err: (e as Error).message, retryInMs: delay }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The XMPP side of publishing and retracting results. */
export function xmppSink(sdk: Agent, log?: Logger): ResultSink {
  return {
    async publishVOEvent(node, id, text) {
      await withRetry('publishing the result VOEvent', log, () => publishVOEvent(sdk, node, text, { id, source: 'crossmatch result' }));
    },
    async publishJson(node, id, payload: Element) {
      await withRetry('publishing the result JSON', log, () => sdk.publish(node, payload, { id }));
    },
    async retract(node, id) {
      try {
        await withRetry('retracting a result', log, () =>
          sdk.iq('set', xml('pubsub', { xmlns: PUBSUB }, xml('retract', { node, notify: 'true' }, xml('item', { id })))),
        );
        return true;
      } catch (e) {
        if (e instanceof XmppIqError && e.condition === 'item-not-found') return false;
        throw e;
      }
    },
  };
}

export async function runCrossmatch(o: RunCrossmatchOptions): Promise<RunningCrossmatch> {
  const { config: cfg, log } = o;
  const targets = o.targets ?? (await loadTargets(cfg, log));
  const ledgerFile = cfg.stateFile ?? (o.stateDir ? join(o.stateDir, `crossmatch-${cfg.name}-results.json`) : undefined);
  const ledger = new Ledger(ledgerFile);
  const sdk = await connectAgent({
    ...o.connection,
    name: `crossmatch-${cfg.name}`,
    ...(log ? { log } : {}),
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    waitForServer: true,
  });
  const agent = new CrossmatchAgent({
    config: cfg,
    targets,
    ledger,
    sink: xmppSink(sdk, log),
    service: sdk.service,
    ...(log ? { log } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.onOutcome ? { onOutcome: o.onOutcome } : {}),
  });
  try {
    for (const node of new Set(cfg.routes.map((r) => r.resultNode))) await ensureNode(sdk, node, 'the result node', log);
    await agent.retryWithdrawals();
    for (const route of cfg.routes) {
      await sdk.follow(
        route.node,
        async (item) => {
          await agent.handle({ node: route.node, id: item.id, payload: item.payload, xml: item.xml });
        },
        { since: cfg.since, pageSize: cfg.pageSize, ...(o.follow ?? {}) },
      );
    }
  } catch (e) {
    await sdk.stop();
    throw e;
  }
  return {
    sdk,
    agent,
    async stop() {
      agent.stop();
      await agent.idle();
      await sdk.stop();
    },
  };
}
