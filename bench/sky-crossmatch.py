"""Python/healpy/numpy half of bench/sky-crossmatch.ts (run with /usr/bin/python3).

usage: /usr/bin/python3 bench/sky-crossmatch.py DIR REPEATS
DIR holds raw little-endian arrays written by the TypeScript side:
  map.uniq (int64), map.probdensity/.distmu/.distsigma/.distnorm (float64),
  <name>.ra/.dec/.dist/.weight (float64) for each catalogue listed in DIR/cats.txt.
Does the same computation as the TypeScript crossmatcher, the way ligo.skymap
does it: order-29 (or max-order) indices with healpy, np.searchsorted against
sorted tile ranges, greedy credible levels from an argsort of the densities,
dP/dV from the distance ansatz, top-N by np.argpartition. Prints JSON timings
(median ms) and checksums.
"""
import json
import os
import sys
import time

import healpy as hp
import numpy as np

d = sys.argv[1]
repeats = int(sys.argv[2])
TOP = 20


def load(name, dtype='<f8'):
    return np.fromfile(os.path.join(d, name), dtype=dtype)


uniq = load('map.uniq', '<i8')
probdensity = load('map.probdensity')
distmu = load('map.distmu')
distsigma = load('map.distsigma')
distnorm = load('map.distnorm')


def prepare_map():
    """Per-map work: tile ranges at order 29, sort, greedy credible levels per tile."""
    order = (np.log2(uniq).astype(np.int64) // 2) - 1
    ipix = uniq - (np.int64(1) << (2 * (order + 1)))
    shift = 2 * (29 - order)
    start = ipix << shift
    end = (ipix + 1) << shift
    srt = np.argsort(start)
    area = 4 * np.pi / (12 * 4.0 ** order)
    prob = probdensity * area
    total = prob.sum()
    i = np.argsort(-probdensity, kind='stable')
    cum = np.cumsum(prob[i]) / total
    cumarea = np.cumsum(area[i])
    searched_prob = np.empty_like(cum)
    searched_prob[i] = cum
    searched_area = np.empty_like(cumarea)
    searched_area[i] = cumarea * (180 / np.pi) ** 2
    return dict(start=start[srt], end=end[srt], srt=srt, total=total, sp=searched_prob, sa=searched_area)


def ang2pix29(ra, dec):
    return hp.ang2pix(1 << 29, ra, dec, nest=True, lonlat=True)


def crossmatch(m, ipix29, dist, weight):
    k = np.searchsorted(m['start'], ipix29, side='right') - 1
    inside = (k >= 0) & (ipix29 < m['end'][np.maximum(k, 0)])
    t = m['srt'][np.maximum(k, 0)]
    pd = np.where(inside, probdensity[t] / m['total'], 0.0)
    sp = np.where(inside, m['sp'][t], np.nan)
    sa = np.where(inside, m['sa'][t], np.nan)
    mu = distmu[t]
    sg = distsigma[t]
    nm = distnorm[t]
    ok = inside & (dist > 0) & (sg > 0) & (nm > 0) & np.isfinite(mu)
    with np.errstate(invalid='ignore', over='ignore', divide='ignore'):
        x = (dist - mu) / sg
        pdv = np.where(ok, pd * nm * np.exp(-0.5 * x * x) / (np.sqrt(2 * np.pi) * sg), 0.0)
    score = np.where(weight > 0, pdv * weight, 0.0)
    n = min(TOP, len(score))
    top = np.argpartition(-score, n - 1)[:n]
    top = top[np.argsort(-score[top], kind='stable')]
    return score, sp, sa, top


def timed(fn, reps):
    fn()  # warm-up
    ts = []
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ts)), out


results = {'healpy': hp.__version__, 'numpy': np.__version__, 'catalogues': {}}
ms, m = timed(prepare_map, repeats)
results['prepare_map_ms'] = ms
with open(os.path.join(d, 'cats.txt')) as f:
    names = f.read().split()
for name in names:
    ra = load(name + '.ra')
    dec = load(name + '.dec')
    dist = load(name + '.dist')
    weight = load(name + '.weight')
    r = {'n': len(ra)}
    r['ang2pix29_ms'], ipix = timed(lambda: ang2pix29(ra, dec), repeats)
    r['crossmatch_ms'], (score, sp, sa, top) = timed(lambda: crossmatch(m, ipix, dist, weight), repeats)
    # one alert end to end: new map + crossmatch of a prepared catalogue + top-N
    r['per_alert_ms'], _ = timed(lambda: crossmatch(prepare_map(), ipix, dist, weight), repeats)
    # cold: everything from RA/Dec
    r['cold_ms'], _ = timed(lambda: crossmatch(prepare_map(), ang2pix29(ra, dec), dist, weight), max(3, repeats // 4))
    r['top'] = [int(i) for i in top]
    r['score_sum'] = float(score.sum())
    r['inside90'] = int(np.sum(sp <= 0.9))
    r['ipix_checksum'] = str(int(np.bitwise_xor.reduce(ipix)))
    results['catalogues'][name] = r
print(json.dumps(results))
