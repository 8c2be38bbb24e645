/**
 * VOEvent redaction: what one access level may not see is removed or coarsened,
 * on the element tree (so every other byte of the packet is kept as published),
 * and the result is validated again as VOEvent 2.0: a redaction that would break
 * the packet is refused, never delivered.
 *
 * - `params`: Param elements with these names are removed anywhere in <What>.
 * - `groups`: Group elements with these names are removed from <What>.
 * - `position_precision_deg`: WhereWhen Position2D coordinates are snapped to a
 *   grid of that step and Error2Radius grows by step·√2/2, so the circle still
 *   contains every position the original circle did (a negative radius, the
 *   missions' "unknown", is kept). Coarsening a position while
 *   exact coordinates stay elsewhere would be no coarsening at all, so Params whose
 *   UCD is a sky coordinate (pos.eq.*, pos.galactic.*, pos.ecliptic.*,
 *   pos.supergalactic.*) are removed as well.
 *
 * Groups left without any Param by the removals are removed too.
 */
import {
  parseTree,
  serialize,
  validateElement,
  XmlSyntaxError,
  type Issue,
  type XmlElement,
  type XmlNode,
} from '../voevent/index.ts';
import type { Redaction } from './types.ts';
import { VOEVENT_NS } from '../common/ns.ts';
import { childElements, localName, textOf } from '../common/xml.ts';

export class RedactionError extends Error {
  constructor(
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
    this.name = 'RedactionError';
  }
}

/** What a redaction did, for logs and tests. */
export type RedactionReport = {
  removedParams: string[];
  removedGroups: string[];
  position?: { from: [number, number, number]; to: [number, number, number]; unit: string };
};

const SKY_UCD = /(^|;)\s*pos\.(eq|galactic|ecliptic|supergalactic)(\.|;|$)/i;

/** Degrees per unit of Position2D@unit. */
const UNIT_DEG: Record<string, number> = { deg: 1, degree: 1, degrees: 1, rad: 180 / Math.PI, arcmin: 1 / 60, arcsec: 1 / 3600 };


/** Remove a child and the indentation before it. */
function removeChild(parent: XmlElement, child: XmlElement): void {
  const i = parent.children.indexOf(child);
  if (i < 0) return;
  const prev = parent.children[i - 1];
  if (typeof prev === 'string' && /^\s*$/.test(prev)) parent.children.splice(i - 1, 2);
  else parent.children.splice(i, 1);
}

function voeventNamespace(root: XmlElement): string | undefined {
  const colon = root.name.indexOf(':');
  const attr = colon < 0 ? 'xmlns' : `xmlns:${root.name.slice(0, colon)}`;
  return root.attrs[attr];
}

/** Number of decimals needed to write a grid step exactly (0.25 → 2, 1 → 0). */
function decimalsOf(step: number): number {
  const s = String(step);
  if (s.includes('e-')) return Math.min(12, Number(s.split('e-')[1]) + (s.split('e-')[0]!.split('.')[1]?.length ?? 0));
  return s.split('.')[1]?.length ?? 0;
}

function fmt(x: number, decimals: number): string {
  const s = x.toFixed(decimals);
  return s === '-0' || /^-0\.0*$/.test(s) ? s.slice(1) : s;
}

function coarsen(pos: XmlElement, stepDeg: number, report: RedactionReport): void {
  const unit = (pos.attrs.unit ?? 'deg').trim();
  const perUnit = UNIT_DEG[unit];
  if (!perUnit) throw new RedactionError(`cannot coarsen a Position2D in unit "${unit}"`);
  const value2 = childElements(pos, 'Value2')[0];
  const c1 = value2 && childElements(value2, 'C1')[0];
  const c2 = value2 && childElements(value2, 'C2')[0];
  const err = childElements(pos, 'Error2Radius')[0];
  if (!c1 || !c2 || !err) throw new RedactionError('Position2D lacks Value2/C1, Value2/C2 or Error2Radius');
  const v1 = Number(textOf(c1));
  const v2 = Number(textOf(c2));
  const e = Number(textOf(err));
  if (![v1, v2, e].every(Number.isFinite)) throw new RedactionError('Position2D holds a non-numeric coordinate');

  // Work in degrees; write back in the packet's unit.
  const d = unit === 'deg' || unit === 'degree' || unit === 'degrees' ? decimalsOf(stepDeg) : 9;
  let ra = Math.round((v1 * perUnit) / stepDeg) * stepDeg;
  ra = ((ra % 360) + 360) % 360;
  if (Number(fmt(ra, d)) >= 360) ra = 0;
  const dec = Math.max(-90, Math.min(90, Math.round((v2 * perUnit) / stepDeg) * stepDeg));
  // Snapping moves a point by at most step/2 in each coordinate, hence ≤ step·√2/2 on the sky.
  // A negative radius is the missions' "unknown" (SVOM GRM sends -1): it stays as it is.
  let grown = e;
  if (e >= 0) {
    const grownDeg = e * perUnit + (stepDeg * Math.SQRT2) / 2;
    // Rounded up, one decimal finer than the grid (0.1° grid: 0.1113 → 0.12).
    const scale = 10 ** (d + 1);
    grown = Math.ceil((grownDeg / perUnit) * scale - 1e-9) / scale;
    err.children = [fmt(grown, d + 1)];
  }
  const out: [number, number, number] = [Number(fmt(ra / perUnit, d)), Number(fmt(dec / perUnit, d)), grown];
  c1.children = [fmt(ra / perUnit, d)];
  c2.children = [fmt(dec / perUnit, d)];
  report.position = { from: [v1, v2, e], to: out, unit };
}

/**
 * Apply a redaction to a VOEvent element tree, in place. Returns what was done.
 * Throws RedactionError when the packet is not a VOEvent or cannot be redacted.
 */
export function redactTree(root: XmlElement, r: Redaction): RedactionReport {
  if (localName(root.name) !== 'VOEvent') throw new RedactionError(`not a VOEvent: <${root.name}>`);
  if (voeventNamespace(root) !== VOEVENT_NS) throw new RedactionError(`not a VOEvent 2.0 packet (namespace ${voeventNamespace(root) ?? 'none'})`);
  const report: RedactionReport = { removedParams: [], removedGroups: [] };
  const params = new Set(r.params ?? []);
  const groups = new Set(r.groups ?? []);
  const coarse = r.position_precision_deg;
  const dropParam = (p: XmlElement) =>
    (p.attrs.name !== undefined && params.has(p.attrs.name)) || (coarse !== undefined && SKY_UCD.test(p.attrs.ucd ?? ''));

  for (const what of childElements(root, 'What')) {
    for (const child of childElements(what)) {
      const kind = localName(child.name);
      if (kind === 'Group' && child.attrs.name !== undefined && groups.has(child.attrs.name)) {
        removeChild(what, child);
        report.removedGroups.push(child.attrs.name);
      } else if (kind === 'Param' && dropParam(child)) {
        removeChild(what, child);
        report.removedParams.push(child.attrs.name ?? '');
      } else if (kind === 'Group' || kind === 'Table') {
        const inner = childElements(child, 'Param');
        let removed = 0;
        for (const p of inner) {
          if (!dropParam(p)) continue;
          removeChild(child, p);
          report.removedParams.push(child.attrs.name ? `${child.attrs.name}/${p.attrs.name ?? ''}` : p.attrs.name ?? '');
          removed++;
        }
        if (kind === 'Group' && removed > 0 && removed === inner.length) {
          removeChild(what, child);
          report.removedGroups.push(child.attrs.name ?? '');
        }
      }
    }
  }

  if (coarse !== undefined) {
    for (const ww of childElements(root, 'WhereWhen'))
      for (const odl of childElements(ww, 'ObsDataLocation'))
        for (const ol of childElements(odl, 'ObservationLocation'))
          for (const ac of childElements(ol, 'AstroCoords')) for (const pos of childElements(ac, 'Position2D')) coarsen(pos, coarse, report);
  }
  return report;
}

/**
 * Redact a serialized VOEvent and return the redacted text, validated as VOEvent
 * 2.0. Throws RedactionError (with the validation issues) rather than deliver a
 * packet that is not one.
 */
export function redact(payload: string, r: Redaction): { xml: string; report: RedactionReport } {
  let root: XmlElement;
  try {
    root = parseTree(payload);
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new RedactionError(`payload is not well-formed XML: ${e.message} (line ${e.line})`);
    throw e;
  }
  const report = redactTree(root, r);
  const result = validateElement(root);
  if (!result.valid) {
    const text = result.errors.slice(0, 3).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    throw new RedactionError(`the redacted packet is not a valid VOEvent 2.0: ${text}`, result.errors);
  }
  return { xml: serialize(root), report };
}
