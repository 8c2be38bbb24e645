/**
 * The typed VOEvent model (IVOA Recommendation "VOEvent 2.0", 2011-07-11).
 *
 * One model serves VOEvent 2.0 and 1.1 packets. Values are kept as they were written
 * (strings) except where the standard fixes a numeric type (positions, error radius,
 * importance, probability), so that build(parse(x)) keeps every Param exactly.
 * Optional members are absent (not `undefined`) when the packet does not carry them,
 * which keeps `parse(build(m))` deep-equal to `m` and the JSON output small.
 */

import { VOEVENT_NS } from '../common/ns.ts';

export const VOEVENT_NS_20 = VOEVENT_NS;
export const VOEVENT_NS_11 = 'http://www.ivoa.net/xml/VOEvent/v1.1';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

export type Role = 'observation' | 'prediction' | 'utility' | 'test';
export const ROLES: readonly Role[] = ['observation', 'prediction', 'utility', 'test'];

export type Cite = 'followup' | 'supersedes' | 'retraction';
export const CITES: readonly Cite[] = ['followup', 'supersedes', 'retraction'];

/** Param/Field dataType as the schema allows it ("string" is the schema default). */
export type DataType = 'string' | 'float' | 'int';

/** <Reference uri="..." type="..." mimetype="..." meaning="..."/> */
export interface Reference {
  uri: string;
  type?: string;
  mimetype?: string;
  meaning?: string;
}

/** What/Param: the value comes from the value attribute, or from a <Value> child. */
export interface Param {
  name?: string;
  value?: string;
  unit?: string;
  ucd?: string;
  dataType?: string;
  utype?: string;
  descriptions?: string[];
  references?: Reference[];
}

export interface Group {
  name?: string;
  type?: string;
  params: Param[];
  descriptions?: string[];
  references?: Reference[];
}

export interface Field {
  name?: string;
  ucd?: string;
  unit?: string;
  dataType?: string;
  utype?: string;
  descriptions?: string[];
  references?: Reference[];
}

export interface Table {
  name?: string;
  type?: string;
  params: Param[];
  fields: Field[];
  /** Data/TR/TD cells, row by row (empty when the table has no <Data>). */
  rows: string[][];
  descriptions?: string[];
  references?: Reference[];
}

export interface What {
  params: Param[];
  groups: Group[];
  tables: Table[];
  descriptions?: string[];
  references?: Reference[];
}

export interface Author {
  title?: string;
  shortName?: string;
  logoURL?: string;
  contactName?: string;
  contactEmail?: string;
  contactPhone?: string;
  contributors?: string[];
}

export interface Who {
  authorIVORN?: string;
  /** Who/Date as written (xs:dateTime). */
  date?: string;
  description?: string;
  reference?: Reference;
  author?: Author;
}

export interface EventTime {
  /** TimeInstant/ISOTime as written. */
  iso?: string;
  /** TimeInstant/TimeOffset. */
  offset?: number;
  /** TimeInstant/TimeScale. */
  scale?: string;
  /** Time/Error. */
  error?: number;
  /** Time@unit. */
  unit?: string;
}

/** Position2D on the sky, always in degrees (converted when the packet says rad/arcmin/arcsec). */
export interface SkyPosition {
  ra: number;
  dec: number;
  /** Error2Radius in degrees. */
  error: number;
  name1?: string;
  name2?: string;
}

/** Position3D (e.g. UTC-GEOD-TOPO: longitude, latitude, height) kept as written. */
export interface Position3D {
  c1: number;
  c2: number;
  c3: number;
  unit?: string;
  name1?: string;
  name2?: string;
  name3?: string;
}

export interface WhereWhen {
  id?: string;
  /** ObservatoryLocation@id, e.g. GEOLUN. */
  observatoryId?: string;
  /** ObservationLocation/AstroCoordSystem@id, e.g. UTC-ICRS-TOPO. */
  coordSystemId?: string;
  time?: EventTime;
  position?: SkyPosition;
  position3d?: Position3D;
  descriptions?: string[];
  references?: Reference[];
}

export interface How {
  descriptions: string[];
  references: Reference[];
}

export interface Inference {
  probability?: number;
  relation?: string;
  names?: string[];
  concepts?: string[];
  descriptions?: string[];
  references?: Reference[];
}

export interface Why {
  importance?: number;
  expires?: string;
  names?: string[];
  concepts?: string[];
  inferences: Inference[];
  descriptions?: string[];
  references?: Reference[];
}

export interface EventIVORN {
  ivorn: string;
  cite?: Cite | string;
}

export interface Citations {
  eventIVORNs: EventIVORN[];
  description?: string;
}

export interface VOEvent {
  ivorn: string;
  /** The schema default is "observation" when the attribute is absent. */
  role: Role | string;
  version: string;
  who?: Who;
  what?: What;
  whereWhen?: WhereWhen;
  how?: How;
  why?: Why;
  citations?: Citations;
  description?: string;
  reference?: Reference;
}
