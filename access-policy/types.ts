/**
 * The access policy as written (Policy) and as compiled (DesiredState).
 *
 * A policy names ordered access levels (highest first), who belongs to each, and
 * the products a mission publishes with, per level, an embargo, a redaction and
 * whether history may be retrieved. Compiling it gives the pubsub nodes, their
 * configurations and affiliations, and the transforms that derive each level's
 * items from the product's source node. Plain data: no XMPP, no storage.
 */
import type { Affiliation, NodeConfig } from '../pubsub/types.ts';

/** Who belongs somewhere: exact bare JIDs, whole domains (every JID at that domain), named groups. */
export type Members = {
  jids?: string[];
  domains?: string[];
  groups?: string[];
};

export type Level = {
  /** Short id used in node names, e.g. "collaboration". */
  id: string;
  title?: string;
  description?: string;
  members?: Members;
  /** The level of everyone: its nodes are open (no membership needed). Only the lowest level may be public. */
  public?: boolean;
};

/** What is removed from, or coarsened in, a VOEvent before a level receives it. */
export type Redaction = {
  /** Param names removed wherever they appear in <What> (top level or inside Groups). */
  params?: string[];
  /** Group names removed from <What>. */
  groups?: string[];
  /** WhereWhen Position2D coordinates rounded to this grid, in degrees (the error radius grows to keep the truth inside). */
  position_precision_deg?: number;
};

/** How one product reaches one level. */
export type Delivery = {
  /** Seconds after publication before the level receives the item: a number, or "90s", "30m", "6h", "1d". Default 0. */
  embargo?: number | string;
  /** May the level's members retrieve past items (default true)? When false they get live notifications only. */
  history?: boolean;
  redact?: Redaction;
};

export type Product = {
  id: string;
  title?: string;
  description?: string;
  /** Bare JIDs that publish this product (to its source node). */
  publishers: string[];
  /** Items kept per node: a number, or "max" (the default: a permanent archive). */
  max_items?: number | 'max';
  /** Age retention: items older than this are removed (seconds, or "90s", "30m", "6h", "1d"); default: kept for ever. */
  max_age?: number | string;
  /** Level id → delivery. Levels not listed do not receive the product. */
  levels: Record<string, Delivery>;
};

export type Policy = {
  version: 1;
  /** Mission name, for titles (e.g. "SVOM"). */
  mission?: string;
  /** Prepended to every node id, e.g. "svom/" gives "svom/eclairs/public". */
  node_prefix?: string;
  /** Named groups of bare JIDs. */
  groups?: Record<string, string[]>;
  /** Ordered, highest first. */
  levels: Level[];
  /** Banned everywhere: affiliation outcast on every node. */
  outcasts?: { jids?: string[]; domains?: string[] };
  products: Product[];
};

// ----------------------------------------------------------------------------- compiled

/** The node configuration fields the policy enforces (others are left to the broker's defaults). */
export type PolicyNodeConfig = Pick<
  NodeConfig,
  'title' | 'type' | 'access_model' | 'publish_model' | 'max_items' | 'max_age' | 'persist_items' | 'deliver_notifications' | 'deliver_payloads' | 'notify_retract' | 'history'
>;

export type DesiredNode = {
  id: string;
  /** source: where publishers publish a product; level: what one level receives. */
  kind: 'source' | 'level';
  product: string;
  level?: string;
  config: PolicyNodeConfig;
  /** Entity (bare JID or domain) → affiliation; entities not listed hold none. */
  affiliations: Record<string, Affiliation>;
  /** Entity → why the policy gives it that affiliation (for audit lines), e.g. "level pi (group instrument-pis)". */
  reasons: Record<string, string>;
};

/** One derivation: items published on `source` reach `target` after the embargo, redacted. */
export type Transform = {
  product: string;
  level: string;
  source: string;
  target: string;
  embargoSeconds: number;
  history: boolean;
  /** Absent: the item is delivered unchanged. */
  redaction?: Redaction;
};

/** Why an entity belongs to a level. */
export type Membership = { entity: string; via: 'jid' | 'domain' | `group ${string}` };

export type CompiledLevel = {
  id: string;
  title: string;
  /** 0 = highest. */
  rank: number;
  public: boolean;
  members: Membership[];
};

export type DesiredState = {
  /** The service JID made owner of every node (when compiled for a broker). */
  service?: string;
  levels: CompiledLevel[];
  /** Entities banned everywhere. */
  outcasts: string[];
  nodes: DesiredNode[];
  transforms: Transform[];
};
