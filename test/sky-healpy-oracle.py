"""healpy oracle for test/sky-healpix-healpy.test.ts.

usage: /usr/bin/python3 test/sky-healpy-oracle.py DIR
Reads DIR/request.json (a list of tasks whose array inputs are raw little-endian
files in DIR), runs each with healpy, writes the outputs as raw files in DIR and
DIR/response.json with scalar results.
"""
import json
import os
import sys

import healpy as hp
import numpy as np

d = sys.argv[1]
with open(os.path.join(d, 'request.json')) as f:
    tasks = json.load(f)


def load(name, dtype):
    return np.fromfile(os.path.join(d, name), dtype=dtype)


def save(name, arr):
    np.ascontiguousarray(arr).tofile(os.path.join(d, name))


response = []
for t in tasks:
    op = t['op']
    nside = 1 << t['order']
    if op == 'ang2pix':
        th = load(t['theta'], '<f8')
        ph = load(t['phi'], '<f8')
        save(t['out'], hp.ang2pix(nside, th, ph, nest=t['nest']).astype('<i8'))
    elif op == 'ang2pix_lonlat':
        ra = load(t['ra'], '<f8')
        dec = load(t['dec'], '<f8')
        save(t['out'], hp.ang2pix(nside, ra, dec, nest=True, lonlat=True).astype('<i8'))
    elif op == 'pix2ang':
        pix = load(t['pix'], '<i8')
        th, ph = hp.pix2ang(nside, pix, nest=t['nest'])
        save(t['out'], np.concatenate([th, ph]).astype('<f8'))
    elif op == 'ring2nest':
        save(t['out'], hp.ring2nest(nside, load(t['pix'], '<i8')).astype('<i8'))
    elif op == 'nest2ring':
        save(t['out'], hp.nest2ring(nside, load(t['pix'], '<i8')).astype('<i8'))
    elif op == 'neighbours':
        nb = hp.get_all_neighbours(nside, load(t['pix'], '<i8'), nest=t['nest'])
        save(t['out'], nb.T.astype('<i8'))  # row per input pixel
    elif op == 'query_disc':
        pix = hp.query_disc(nside, t['vec'], t['radius'], inclusive=t['inclusive'], fact=t['fact'], nest=True)
        save(t['out'], np.sort(pix).astype('<i8'))
    elif op == 'query_polygon':
        pix = hp.query_polygon(nside, np.array(t['vertices']), inclusive=t['inclusive'], fact=t['fact'], nest=True)
        save(t['out'], np.sort(pix).astype('<i8'))
    elif op == 'scalars':
        response.append({
            'order': t['order'],
            'max_pixrad': float(hp.max_pixrad(nside)),
            'pixarea': float(hp.nside2pixarea(nside)),
            'npix': int(hp.nside2npix(nside)),
            'order_of_nside': int(hp.nside2order(nside)),
        })
    else:
        raise SystemExit('unknown op ' + op)

with open(os.path.join(d, 'response.json'), 'w') as f:
    json.dump(response, f)
