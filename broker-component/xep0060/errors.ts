/** PubsubError → <error/> element (RFC 6120 §8.3 + XEP-0060 application conditions). */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { PubsubError } from '../../pubsub/errors.ts';

export function errorElement(err: PubsubError): Element {
  const el = xml('error', { type: err.type }, xml(err.condition, { xmlns: NS.STANZAS }));
  if (err.pubsub) el.append(xml(err.pubsub, { xmlns: NS.ERRORS, feature: err.feature }));
  if (err.message) el.append(xml('text', { xmlns: NS.STANZAS, 'xml:lang': 'en' }, err.message));
  return el;
}
