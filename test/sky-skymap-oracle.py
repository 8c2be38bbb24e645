"""healpy/numpy oracle for test/sky-skymap-healpy.test.ts.

usage: /usr/bin/python3 test/sky-skymap-oracle.py DIR
DIR/request.json: {"flat": [paths], "ra": file, "dec": file, "dist": file,
"uniq": file, "probdensity": ..., "distmu": ..., "distsigma": ..., "distnorm": ...}
Writes DIR/response.json.
"""
import json
import os
import sys

import healpy as hp
import numpy as np

d = sys.argv[1]
req = json.load(open(os.path.join(d, 'request.json')))


def load(name, dtype='<f8'):
    return np.fromfile(os.path.join(d, name), dtype=dtype)


ra = load(req['ra'])
dec = load(req['dec'])
dist = load(req['dist'])
out = {'flat': []}

for path in req['flat']:
    m = hp.read_map(path, field=0, nest=True, dtype=np.float64)
    m[m == hp.UNSEEN] = 0
    nside = hp.get_nside(m)
    area = hp.nside2pixarea(nside, degrees=True)
    i = np.argsort(m)[::-1]
    cum = np.cumsum(m[i]) / m.sum()
    ar = np.arange(1, len(m) + 1) * area
    A = lambda p: float(np.interp(p, np.pad(cum, (1, 0)), np.pad(ar, (1, 0))))
    th, ph = hp.pix2ang(nside, int(np.argmax(m)), nest=True)
    pix = hp.ang2pix(nside, ra, dec, nest=True, lonlat=True)
    out['flat'].append({
        'sum': float(m.sum()), 'a50': A(0.5), 'a90': A(0.9),
        'ra': float(np.degrees(ph)), 'dec': float(90 - np.degrees(th)),
        'density': (m[pix] / hp.nside2pixarea(nside)).tolist(),
    })

# ligo.skymap-style crossmatch on the multi-order map given as arrays
uniq = load(req['uniq'], '<i8')
dens = load(req['probdensity'])
mu = load(req['distmu'])
sg = load(req['distsigma'])
nm = load(req['distnorm'])
order = (np.log2(uniq).astype(np.int64) // 2) - 1
ipix = uniq - (np.int64(1) << (2 * (order + 1)))
max_order = int(order.max())
max_ipix = ipix << (2 * (max_order - order))
true_pix = hp.ang2pix(1 << max_order, ra, dec, nest=True, lonlat=True)
srt = np.argsort(max_ipix)
idx = srt[np.digitize(true_pix, max_ipix[srt]) - 1]
area = 4 * np.pi / (12 * 4.0 ** order)
prob = dens * area
desc = np.argsort(-dens, kind='stable')
cum = np.cumsum(prob[desc]) / prob.sum()
rank = np.empty_like(desc)
rank[desc] = np.arange(len(desc))
searched_prob = cum[rank[idx]]
searched_area = np.cumsum(area[desc])[rank[idx]] * (180 / np.pi) ** 2
pd = dens[idx] / prob.sum()
x = (dist - mu[idx]) / sg[idx]
dpdv = pd * nm[idx] * np.exp(-0.5 * x * x) / (np.sqrt(2 * np.pi) * sg[idx])
out['multi'] = {'tile_uniq': [str(u) for u in uniq[idx]], 'searched_prob': searched_prob.tolist(),
                'searched_area': searched_area.tolist(), 'probdensity': pd.tolist(), 'dpdv': dpdv.tolist()}
json.dump(out, open(os.path.join(d, 'response.json'), 'w'))
