/** XML namespaces of the protocols and formats we speak. */
export const NS = {
  VOEVENT: 'http://www.ivoa.net/xml/VOEvent/v2.0',
  PUBSUB: 'http://jabber.org/protocol/pubsub',
  OWNER: 'http://jabber.org/protocol/pubsub#owner',
  EVENT: 'http://jabber.org/protocol/pubsub#event',
  ERRORS: 'http://jabber.org/protocol/pubsub#errors',
  NODE_CONFIG: 'http://jabber.org/protocol/pubsub#node_config',
  PUBLISH_OPTIONS: 'http://jabber.org/protocol/pubsub#publish-options',
  META_DATA: 'http://jabber.org/protocol/pubsub#meta-data',
  SUB_AUTH: 'http://jabber.org/protocol/pubsub#subscribe_authorization',
  GET_PENDING: 'http://jabber.org/protocol/pubsub#get-pending',
  DISCO_INFO: 'http://jabber.org/protocol/disco#info',
  DISCO_ITEMS: 'http://jabber.org/protocol/disco#items',
  DATA: 'jabber:x:data',
  RSM: 'http://jabber.org/protocol/rsm',
  SHIM: 'http://jabber.org/protocol/shim',
  STANZAS: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  COMMANDS: 'http://jabber.org/protocol/commands',
  PING: 'urn:xmpp:ping',
  DELAY: 'urn:xmpp:delay',
  ADDRESS: 'http://jabber.org/protocol/address',
  VERSION: 'jabber:iq:version',
} as const;

/** The VOEvent 2.0 namespace (also the pubsub#type of VOEvent nodes). */
export const VOEVENT_NS = NS.VOEVENT;
