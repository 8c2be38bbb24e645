/** Pubsub item payload → VOEvent model. */
import { fromElement, parse, VOEventParseError, type VOEvent, type XmlElement } from '../../voevent/index.ts';

/** Parse an item's payload: the xmpp.js tree when there is one (no reparsing), else the text. */
export function eventOfItem(item: { payload?: unknown; xml: string }): VOEvent {
  if (item.payload) {
    try {
      return fromElement(item.payload as XmlElement);
    } catch (e) {
      if (!(e instanceof VOEventParseError)) throw e;
    }
  }
  return parse(item.xml);
}
