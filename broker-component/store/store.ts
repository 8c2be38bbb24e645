/**
 * What the pubsub core needs from storage. Calls are synchronous and each one is
 * atomic: when a call returns, its effect is durable (the SQLite implementation
 * commits a transaction). The core acknowledges a publish only after `publishItems`
 * returned.
 */
import type { Affiliation, Item, NodeConfig, NodeRecord, Subscription } from '../../pubsub/types.ts';

export type ItemQuery = {
  /** Only these ids (in publication order). */
  ids?: string[];
  /** The newest `max` items (after paging is applied, the page size). */
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
  /** Total number of items in the node (for RSM <count/>). */
  count: number;
  /** Position of the first returned item in publication order (for RSM <first index>). */
  firstIndex: number;
  /** Set when an RSM cursor (after/before) names no item of the node. */
  missingCursor?: string;
};

export type StoredState = {
  nodes: NodeRecord[];
  affiliations: { node: string; jid: string; affiliation: Affiliation }[];
  subscriptions: Subscription[];
};

export interface Store {
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
  lastItem(node: string): Item | undefined;
  /** Keep only the newest `maxItems` items (after max_items was lowered). */
  trim(node: string, maxItems: number): string[];
  /** Small key/value space for the broker's own durable state (policy, embargo queue...). */
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string | undefined): void;
  close(): void;
}
