/**
 * The running telescope agent: the agent SDK (connect with reconnection, follow
 * with catch-up and dedupe, publish) wired to TelescopeAgent. Used by the CLI, the
 * end-to-end tests and the benchmark.
 */
import { connectAgent, ensureNode, publishVOEvent, type Agent, type ConnectionOptions, type FollowOptions, type Logger } from '../lib/index.ts';
import type { Action } from './actions.ts';
import { TelescopeAgent, type HandleResult } from './agent.ts';
import { eventOfItem } from './items.ts';
import type { Rules } from './rules.ts';
import type { Tracker } from './tracker.ts';
import type { VOEvent } from '../../voevent/index.ts';

export interface RunTelescopeOptions {
  rules: Rules;
  connection: ConnectionOptions;
  tracker?: Tracker;
  log?: Logger;
  now?: () => Date;
  /** Keeps the SDK's follow cursors (catch-up after a restart); in memory when absent. */
  stateDir?: string;
  action?: Action;
  follow?: FollowOptions;
  onHandled?: (r: HandleResult, ev: VOEvent) => void;
}

export interface RunningTelescope {
  sdk: Agent;
  agent: TelescopeAgent;
  stop(): Promise<void>;
}

export async function runTelescope(o: RunTelescopeOptions): Promise<RunningTelescope> {
  const { rules, log } = o;
  const sdk = await connectAgent({
    ...o.connection,
    name: `telescope-${rules.telescope.name}`,
    ...(log ? { log } : {}),
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    waitForServer: true,
  });
  const agent = new TelescopeAgent({
    rules,
    ...(o.tracker ? { tracker: o.tracker } : {}),
    ...(o.action ? { action: o.action } : {}),
    ...(log ? { log } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.onHandled ? { onHandled: o.onHandled } : {}),
    publish: (node, text) => publishVOEvent(sdk, node, text, { source: 'status' }),
  });
  try {
    if (rules.statusNode) await ensureNode(sdk, rules.statusNode, 'the status node', log);
    for (const node of rules.nodes) {
      await sdk.follow(
        node,
        async (item) => {
          const receivedAt = performance.now();
          let ev: VOEvent;
          try {
            ev = eventOfItem(item);
          } catch (e) {
            log?.warn({ node, id: item.id, err: (e as Error).message }, 'item is not a VOEvent; skipped');
            return;
          }
          await agent.handle(ev, { receivedAt, node, live: item.live });
        },
        o.follow ?? {},
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
