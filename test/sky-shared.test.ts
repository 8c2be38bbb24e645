/**
 * Oracle checks against ../shared/data (read-only sample data outside the
 * repository): real igwn.gwalert notices and the large flat GW190814 map.
 * Skipped, with the reason in the test name, when ../shared is not mounted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSkyMapFileSync, readSkyMapFromAlert } from '../sky/readers.ts';
import { SHARED, SHARED_PRESENT, SHARED_SKIP_REASON, SKYMAPS } from './sky-helpers.ts';

const IGWN = join(SHARED, 'gcn-json', 'igwn');

describe.skipIf(!SHARED_PRESENT)('igwn.gwalert notices in ../shared', () => {
  it('MS181101ab preliminary: the embedded sky map is byte-identical to the userguide map (A90 30.98 deg²)', () => {
    const text = readFileSync(join(IGWN, 'MS181101ab-preliminary.json'), 'utf8');
    const alert = JSON.parse(text);
    const embedded = Buffer.from(alert.event.skymap, 'base64');
    expect(embedded.equals(readFileSync(join(SKYMAPS, 'userguide-bayestar.multiorder.fits')))).toBe(true);
    const m = readSkyMapFromAlert(text);
    expect(m.meta.object).toBe('MS181101ab');
    expect(m.credibleArea(0.9).toFixed(2)).toBe('30.98');
    for (const kind of ['earlywarning', 'initial', 'update']) {
      expect(readSkyMapFromAlert(readFileSync(join(IGWN, `MS181101ab-${kind}.json`), 'utf8')).ntiles).toBeGreaterThan(0);
    }
  });

  it('retractions carry no sky map: a clear error, not a crash', () => {
    expect(() => readSkyMapFromAlert(readFileSync(join(IGWN, 'MS181101ab-retraction.json'), 'utf8'))).toThrow(/MS181101ab \(RETRACTION\) carries no sky map/);
    expect(() => readSkyMapFromAlert(readFileSync(join(IGWN, 'skyportal-MS260605l-igwn_gwalert_retraction.json'), 'utf8'))).toThrow(/carries no sky map/);
  });

  it('MS260605l (skyportal sample notice): reads, normalised, distance layers present', () => {
    const m = readSkyMapFromAlert(readFileSync(join(IGWN, 'skyportal-MS260605l-igwn_gwalert_preliminary.json'), 'utf8'));
    expect(m.meta.object).toBe('M639421'); // the FITS OBJECT of this notice's map (its GraceDB event), kept over the superevent id
    expect(m.totalProbability).toBeCloseTo(1, 9);
    expect(m.hasDistance).toBe(true);
    expect(m.credibleArea(0.9)).toBeGreaterThan(m.credibleArea(0.5));
  });

  it('GW190814 LALInference flat map (NSIDE 1024, 402 MB uncompressed): areas and peak as computed with healpy 1.16', () => {
    const m = readSkyMapFileSync(join(SHARED, 'skymaps', 'skyportal-GW190814-LALInference.v1.flat-nside1024.fits.gz'));
    // healpy.read_map(nest=True), greedy areas with linear interpolation, pix2ang of the max pixel
    expect(m.credibleArea(0.5)).toBeCloseTo(4.756171280221596, 6);
    expect(m.credibleArea(0.9)).toBeCloseTo(23.084296307453883, 6);
    const d = m.densest();
    expect(d.ra).toBeCloseTo(12.832031250000002, 8);
    expect(d.dec).toBeCloseTo(-25.241356531125817, 8);
    expect(m.meta.sourceRows).toBe(12582912);
    expect(m.ntiles).toBeLessThan(100_000); // flattened from a multi-order map: merges back
    expect(m.meta.distMean).toBeCloseTo(267.4016362946634, 9);
  }, 120_000);
});

if (!SHARED_PRESENT) {
  describe('igwn.gwalert notices in ../shared', () => {
    it.skip(`oracle checks ${SHARED_SKIP_REASON}`, () => {});
  });
}
