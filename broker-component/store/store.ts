/**
 * What the pubsub core needs from storage. Calls are synchronous and each one is
 * atomic: when a call returns, its effect is durable (the SQLite implementation
 * commits a transaction). The core acknowledges a publish only after `publishItems`
 * returned.
 */
import type { Affiliation, Item, NodeConfig, NodeRecord, Subscription } from '../../pubsub/types.ts';

/**
 * A page of a node's items. The result set is the node's items (or its `newest`
 * ones) in publication order, oldest first, as in XEP-0313; `after`, `before` and
 * `index` page through it (XEP-0059). Without a cursor, the last page: the newest
 * `max` items.
 */
export type ItemQuery = {
  /** Only these ids (in publication order). */
  ids?: string[];
  /** Restrict the result set to the newest `newest` items (XEP-0060 max_items). */
  newest?: number;
  /** The page size; without a cursor, the newest `max` items. */
  max?: number;
  /** XEP-0059: items published after this item id (newer). */
  after?: string;
  /** XEP-0059: items published before this id (older); '' means the last page. */
  before?: string;
  /** XEP-0059 index: skip this many items from the oldest. */
  index?: number;
};

export type ItemPage = {
  items: Item[];
  /** Number of items in the result set (for RSM <count/>). */
  count: number;
  /** Position of the first returned item in publication order (for RSM <first index>). */
  firstIndex: number;
  /** Set when an RSM cursor (after/before) names no item of the node. */
  missingCursor?: string;
};

/**
 * An archive query (XEP-0313 on a node): items matching every given filter, in
 * publication order (time, then sequence), one page at a time.
 */
export type ArchiveQuery = {
  /** Published at or after this time (ms since epoch). */
  start?: number;
  /** Published at or before this time (ms since epoch). */
  end?: number;
  /** Published by this bare JID. */
  publisher?: string;
  /** Items whose payload has this IVORN. */
  ivorn?: string;
  /** Only these item ids. */
  ids?: string[];
  /** Only items after / before this item (XEP-0313 after-id / before-id): bounds of the result set. */
  afterId?: string;
  beforeId?: string;
  /** Page size. */
  max: number;
  /** RSM paging inside the result set: the page after this item, or before it ('' = the last page). */
  after?: string;
  before?: string;
};

export type ArchivePage = {
  items: Item[];
  /** The page reaches the end of the result set in the direction of the query. */
  complete: boolean;
  /** Size of the result set, and the first item's position in it; undefined when too costly to count (more than `countLimit`). */
  count?: number;
  firstIndex?: number;
  /** Set when an id named as a cursor or bound is not in the node (item-not-found). */
  missingCursor?: string;
};

export type StoredState = {
  nodes: NodeRecord[];
  affiliations: { node: string; jid: string; affiliation: Affiliation }[];
  subscriptions: Subscription[];
};

/**
 * A durable release job of the access policy (broker-component/policy): one
 * (source item, level node) pair still to be derived and published.
 */
export type ReleaseJob = {
  source: string;
  itemId: string;
  target: string;
  /** Publication time of the source item, ms since epoch. */
  published: number;
  /** When the level may receive it, ms since epoch. */
  dueAt: number;
  /** The source payload as published (serialized XML). */
  payload: string;
  publisher: string;
};

/** Release jobs, kept with the items (same database, same migrations, same durability). */
export interface ReleaseJobStore {
  /** Add jobs atomically; a job for the same (source, item, target) is replaced. */
  putReleaseJobs(jobs: ReleaseJob[]): void;
  /** Jobs due at `now`, the earliest first. */
  dueReleaseJobs(now: number, limit: number): ReleaseJob[];
  /** The earliest due time, or undefined when there is no job. */
  nextReleaseDue(): number | undefined;
  deleteReleaseJob(job: Pick<ReleaseJob, 'source' | 'itemId' | 'target'>): void;
  /** Delete the jobs of these source items; returns how many. */
  deleteReleaseJobsOfItems(source: string, itemIds: string[]): number;
  /** Delete every job of a source node; returns how many. */
  deleteReleaseJobsOfSource(source: string): number;
  /**
   * Atomically, for every (source, target) pair with jobs: `embargoMs` gives the
   * pair's embargo (due = published + embargo), or undefined to delete its jobs.
   * Returns the deleted pairs.
   */
  realignReleaseJobs(embargoMs: (source: string, target: string) => number | undefined): { source: string; target: string; cancelled: number }[];
  allReleaseJobs(): ReleaseJob[];
  /** How many jobs wait (due or not). */
  countReleaseJobs(): number;
}

/** One step of an event-thread index update (applied in order, in one transaction). */
export type ThreadIndexOp =
  | { op: 'merge'; into: string; from: string }
  | { op: 'key'; key: string; thread: string }
  | { op: 'entry'; node: string; item: string; thread: string; published: number; facts: string };

export type ThreadEntryRow = { node: string; item: string; published: number; facts: string };

/**
 * The event-thread index (broker-component/threads), kept with the items: same
 * database, same migrations. It is derived data: `threadMark` is the last item
 * sequence number indexed, so the index can always catch up with the items.
 */
export interface ThreadIndexStore {
  /** Items stored after this sequence number, oldest first. */
  itemsAfter(seq: number, limit: number): Item[];
  threadMark(): number;
  threadOfKey(key: string): string | undefined;
  threadOfItem(item: string): string | undefined;
  threadEntries(thread: string): ThreadEntryRow[];
  /** Apply the steps in order and move the mark, in one transaction. */
  updateThreads(ops: ThreadIndexOp[], mark: number): void;
  /** Entries of items that left their node (retracted, purged: all of the node's). */
  forgetThreadEntries(node: string, items?: string[]): void;
}

export interface Store extends ReleaseJobStore, ThreadIndexStore {
  load(): StoredState;
  createNode(node: NodeRecord, owner: string): void;
  updateNodeConfig(node: string, config: NodeConfig): void;
  deleteNode(node: string): void;
  setAffiliation(node: string, jid: string, affiliation: Affiliation): void;
  putSubscription(sub: Subscription): void;
  deleteSubscription(node: string, subid: string): void;
  /** Store items (replacing items with the same id), then keep only the newest `maxItems`. Returns the stored items with their sequence numbers and the ids trimmed away. */
  publishItems(node: string, items: Omit<Item, 'seq' | 'node'>[], maxItems: number): { stored: Item[]; trimmed: string[] };
  /** Remove items; returns the ids that existed. */
  retractItems(node: string, ids: string[]): string[];
  purge(node: string): number;
  getItems(node: string, q: ItemQuery): ItemPage;
  getItem(node: string, id: string): Item | undefined;
  /** Archive query over a node's stored items (indexed by time, publisher and IVORN). */
  queryArchive(node: string, q: ArchiveQuery): ArchivePage;
  /** Remove the node's items published before `cutoff` (ms since epoch): age retention. Returns the ids removed. */
  expire(node: string, cutoff: number): string[];
  lastItem(node: string): Item | undefined;
  /** Keep only the newest `maxItems` items (after max_items was lowered). */
  trim(node: string, maxItems: number): string[];
  /** Small key/value space for the broker's own durable state (policy, embargo queue...). */
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string | undefined): void;
  /** Run `fn` so that the writes of the store calls it makes are committed together or not at all (it throws). */
  atomically<T>(fn: () => T): T;
  close(): void;
}
