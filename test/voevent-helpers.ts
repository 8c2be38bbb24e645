/** Shared helpers for the voevent tests: corpus locations, xmpp.js trees, a seeded PRNG. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from '@xmpp/xml';
import type { Element } from '@xmpp/xml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'voevents');
export const SHARED_VOEVENTS = path.resolve(REPO_ROOT, '../shared/data/voevents');
export const OFFICIAL_XSD = path.resolve(REPO_ROOT, '../shared/data/schema/VOEvent-v2.0.xsd');

export function fixture(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}

export function xmlFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.xml')).sort();
}

/** The real corpus: ../shared/data/voevents when present, else the fixture copies. */
export function corpus(): { dir: string; files: string[] } {
  const dir = fs.existsSync(SHARED_VOEVENTS) ? SHARED_VOEVENTS : FIXTURES;
  return { dir, files: xmlFiles(dir) };
}

/**
 * Parse a packet the way the broker receives it: xmpp.js's streaming parser, the
 * VOEvent as a child of the stream (an @xmpp/xml Element with a parent pointer).
 */
export function xmppElement(xml: string): Element {
  const body = xml.replace(/^\uFEFF?<\?xml[^>]*\?>/, '');
  const p = new Parser();
  let found: Element | undefined;
  let error: unknown;
  p.on('element', (el: Element) => {
    found = el;
  });
  p.on('error', (e: unknown) => {
    error = e;
  });
  p.write('<stream:stream xmlns:stream="http://etherx.jabber.org/streams">' + body + '</stream:stream>');
  if (error) throw error;
  if (!found) throw new Error('xmpp.js parser produced no element');
  return found;
}

/** mulberry32: small deterministic PRNG so mutation runs are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
