/** Shared by the crossmatch agent tests. */

/** A test catalogue: GLADE+ rows far from MS181101ab plus a host at the map's peak and decoys. */
export function testCatalogCsv(): string {
  return [
    'name,ra,dec,distmpc,mass',
    // at the densest tile, at the map's distance (39.8 ± 8.3 Mpc)
    'HOST-A,194.3042,-17.8569,40,1',
    // same place, far beyond the distance posterior
    'DECOY-FAR,194.3042,-17.8569,400,1',
    // same place, 2.4 sigma beyond the distance posterior's mean
    'OFF-DIST,194.3042,-17.8569,60,1',
    // right distance, other side of the sky
    'DECOY-SKY,14.30,17.86,40,1',
    // GLADE+ NGC4736 (nearby, far from the localisation)
    'NGC4736,192.721451,41.120152,4.39,1',
  ].join('\n');
}

