/**
 * The rooms agent: mirrors the access policy's level nodes into XEP-0045 rooms
 * and relays every item of a level node into its room as one groupchat message
 * (summary + link to the web page).
 *
 *   rooms = planRooms(compile(policy))            which rooms, who belongs (decided by the policy's table)
 *   for each room: join (create) → configure → member list = plan   (re-done on every policy change)
 *   agent.follow(level node) → say(summary, link)                   (catch-up and durable cursor from agents/lib)
 *
 * A message counts as relayed once the room reflected it; until then the item is
 * not handled (the follower's cursor does not move past it), so a crash or a lost
 * connection repeats at most the message in flight.
 */
import { xml } from '@xmpp/xml';
import { compile } from '../../access-policy/compile.ts';
import { loadPolicyFile } from '../../access-policy/load.ts';
import { watchFile } from '../../common/watch-file.ts';
import type { Agent } from '../lib/connect.ts';
import type { Follower, FollowedItem } from '../lib/follow.ts';
import { XmppIqError } from '../../common/xmpp/iq-errors.ts';
import type { Logger } from '../lib/log.ts';
import { alertLink, alertOf } from '../lib/alert.ts';
import { MucClient, MucJoinError } from './muc.ts';
import { admits, affiliationChanges, planRooms, type RoomPlan } from './plan.ts';

export type RoomsOptions = {
  agent: Agent;
  log: Logger;
  policyFile: string;
  /** The MUC service, e.g. conference.svom.fr. */
  muc: string;
  /** Nickname in the rooms (default "VOXnet"). */
  nick?: string;
  /** Link to each alert's web page: a template with {node}, {id}, {ivorn}, or a base URL. */
  alertUrl?: string;
  /** Where a new room starts reading its node when the state holds no cursor (default latest). */
  since?: 'latest' | 'beginning';
  /** Re-read the policy when the file changes or on SIGHUP (default true). */
  watch?: boolean;
  /** Abandon the start-up (room set-up, first catch-up) when aborted, e.g. on SIGTERM. */
  signal?: AbortSignal;
};

export type RoomsHandle = {
  rooms(): RoomPlan[];
  /** Re-read the policy and apply it; resolves when applied (rejects on a broken file, the old plan stays). */
  reload(): Promise<void>;
  stop(): Promise<void>;
};

/** The groupchat text for one item. */
export function roomMessage(item: FollowedItem, alertUrl?: string): string {
  const a = alertOf(item);
  return alertUrl ? `${a.summary}\n${alertLink(alertUrl, a)}` : a.summary;
}

export async function runRooms(opts: RoomsOptions): Promise<RoomsHandle> {
  const { agent, log } = opts;
  const muc = new MucClient(agent, opts.nick ?? 'VOXnet');
  const self = agent.bare;
  let plans = new Map<string, RoomPlan>();
  const followers = new Map<string, Follower>();
  let stopping = false;
  opts.signal?.addEventListener('abort', () => (stopping = true), { once: true });
  let applying: Promise<void> = Promise.resolve();

  const readPlan = (): Map<string, RoomPlan> => {
    const { policy } = loadPolicyFile(opts.policyFile);
    return new Map(planRooms(compile(policy, { service: agent.service }), opts.muc).map((p) => [p.jid, p]));
  };

  /** Enter the room (creating it), make it what the plan says, and bring its member list in line; one at a time per room. */
  const entering = new Map<string, Promise<void>>();
  const setUp = (p: RoomPlan): Promise<void> => {
    const running = entering.get(p.jid);
    if (running) return running;
    const run = enter(p).finally(() => entering.delete(p.jid));
    entering.set(p.jid, run);
    return run;
  };
  const enter = async (p: RoomPlan): Promise<void> => {
    const created = await muc.join(p.jid);
    if (created) log.info({ room: p.jid, node: p.node }, 'room created');
    await muc.configure(p.jid, {
      'muc#roomconfig_roomname': p.title,
      'muc#roomconfig_roomdesc': `Alerts of ${p.node}, relayed by VOXnet; members follow the access policy.`,
      'muc#roomconfig_persistentroom': '1',
      'muc#roomconfig_membersonly': p.open ? '0' : '1',
      'muc#roomconfig_publicroom': p.open ? '1' : '0',
      'muc#roomconfig_whois': 'moderators',
      'muc#roomconfig_allowinvites': '0',
      'muc#roomconfig_changesubject': '0',
    });
    await syncMembers(p);
  };

  const syncMembers = async (p: RoomPlan): Promise<void> => {
    const [members, outcasts] = await Promise.all([muc.list(p.jid, 'member'), muc.list(p.jid, 'outcast')]);
    const changes = affiliationChanges(p, { members, outcasts }, self);
    if (changes.length === 0) return;
    await muc.setAffiliations(p.jid, changes);
    // A server removes an occupant whose own affiliation was dropped; one admitted through a
    // whole domain that lost the level may stay (ejabberd): whoever the plan no longer admits leaves.
    for (const [nick, jid] of muc.occupants(p.jid)) {
      if (jid === self || admits(p, jid)) continue;
      await muc.kick(p.jid, nick, `access policy: no longer may read ${p.node}`).catch((e: Error) => log.debug({ room: p.jid, nick, err: e.message }, 'kick refused (already gone?)'));
      log.info({ room: p.jid, jid }, `removed ${jid} (in the room as ${nick}) from ${p.jid}`);
    }
    for (const c of changes) log.info({ room: p.jid, jid: c.jid, affiliation: c.affiliation, reason: c.reason }, c.affiliation === 'none' ? `removed ${c.jid} from ${p.jid}` : `${c.jid} is ${c.affiliation} of ${p.jid}`);
    const count = (a: string) => changes.filter((c) => c.affiliation === a).length;
    const removed = changes.filter((c) => c.affiliation === 'none').map((c) => c.jid);
    log.info({ feed: 'room', room: p.jid, added: count('member'), outcasts: count('outcast'), removed },
      `${p.jid.split('@')[0]}: ${[count('member') && `${count('member')} members added`, count('outcast') && `${count('outcast')} outcast`, removed.length && `removed ${removed.join(', ')}`].filter(Boolean).join(', ')}`);
  };

  /** Wait until we are in the room (rejoining as needed); false when stopping. */
  const inRoom = async (p: RoomPlan): Promise<boolean> => {
    for (let attempt = 0; !stopping; attempt++) {
      if (muc.isJoined(p.jid) && agent.isOnline()) return true;
      try {
        await agent.whenOnline(60_000);
        if (!muc.isJoined(p.jid)) await setUp(p);
        return true;
      } catch (e) {
        log.warn({ room: p.jid, err: (e as Error).message }, 'cannot enter the room yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** attempt)));
      }
    }
    return false;
  };

  const relay = (p: RoomPlan) => async (item: FollowedItem): Promise<void> => {
    const text = roomMessage(item, opts.alertUrl);
    while (!stopping) {
      if (!(await inRoom(plans.get(p.jid) ?? p))) return;
      try {
        await muc.say(p.jid, text, [xml('origin-id', { xmlns: 'urn:xmpp:sid:0', id: `${item.node}/${item.id}` })]);
        log.info({ feed: 'relay', room: p.jid, node: item.node, item: item.id }, `relayed ${item.id} to ${p.jid}`);
        return;
      } catch (e) {
        log.warn({ room: p.jid, item: item.id, err: (e as Error).message }, 'relay failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };

  const apply = async (next: Map<string, RoomPlan>): Promise<void> => {
    const old = plans;
    plans = next;
    for (const p of next.values()) {
      if (stopping) break;
      try {
        if (!muc.isJoined(p.jid)) await setUp(p);
        else if (JSON.stringify(old.get(p.jid)) !== JSON.stringify(p)) await syncMembers(p);
      } catch (e) {
        log.error({ room: p.jid, err: (e as Error).message }, e instanceof MucJoinError ? 'cannot create or enter the room (may this account create rooms on the MUC service?)' : 'cannot set up the room');
      }
      if (followers.has(p.node) || stopping) continue;
      try {
        const f = await agent.follow(p.node, relay(p), { since: opts.since ?? 'latest', ivornPerNode: true });
        f.on('handler-error', (err: Error, item: FollowedItem) => log.error({ room: p.jid, item: item.id, err: err.message }, 'relay failed'));
        followers.set(p.node, f);
      } catch (e) {
        const refused = e instanceof XmppIqError && (e.condition === 'forbidden' || e.condition === 'not-authorized' || e.pubsub === 'closed-node');
        log.error({ node: p.node, room: p.jid, err: (e as Error).message },
          refused ? `${self} may not read ${p.node}: nothing is relayed to ${p.jid} (make it a broker admin, or a member of the node's level)` : `cannot follow ${p.node}`);
      }
    }
    // Rooms no longer in the policy: stop relaying; the room stays (its talk is people's).
    for (const [jid, p] of old) {
      if (next.has(jid)) continue;
      await followers.get(p.node)?.stop();
      followers.delete(p.node);
      log.warn({ room: jid, node: p.node }, 'room no longer in the policy: nothing more is relayed to it');
    }
  };

  await apply(readPlan());
  const reload = (): Promise<void> => {
    const run = applying.then(async () => {
      if (stopping) return;
      await apply(readPlan());
      log.info({ rooms: plans.size }, 'policy applied to the rooms');
    });
    applying = run.catch(() => {});
    return run;
  };
  const unwatch = opts.watch === false ? () => {} : watchFile(opts.policyFile, (cause) => {
    reload().catch((e) => log.error({ cause, err: (e as Error).message }, 'policy file refused; the rooms keep the policy in force'));
  }, { onError: (err) => log.warn({ err: err.message }, 'cannot watch the policy file; SIGHUP still reloads it') });

  // Back after a disconnection, or removed from a room: enter again (members synced too).
  const rejoinAll = () => {
    for (const p of plans.values()) void inRoom(p);
  };
  agent.on('online', rejoinAll);
  muc.on('left', (room: string, reason: string) => {
    log.warn({ room, reason }, 'removed from the room; entering again');
    const p = plans.get(room);
    if (p && !stopping) void inRoom(p);
  });

  return {
    rooms: () => [...plans.values()],
    reload,
    async stop() {
      stopping = true;
      unwatch();
      agent.off('online', rejoinAll);
      await Promise.all([...followers.values()].map((f) => f.stop()));
      await muc.close();
    },
  };
}
