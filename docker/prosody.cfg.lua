-- A production-shaped Prosody configuration for VOXnet (the tests and `make up`
-- generate an equivalent one in a temporary directory: broker-component/servers/prosody.ts).
plugin_paths = { "/opt/voxnet/config/prosody-modules" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "presence", "message", "iq", "c2s", "component", "http", "websocket" }
c2s_require_encryption = true
network_settings = { nagle = false } -- alerts are latency-sensitive
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }
-- XMPP over WebSocket for the web page (voxnet web --websocket wss://HOST:5281/xmpp-websocket);
-- browsers need wss:// (TLS on https_ports, or a reverse proxy in front of http_ports).
https_ports = { 5281 }

VirtualHost "svom.fr"
VirtualHost "svom.cn"

-- The VOXnet broker, an external component (voxnet broker --config broker.yaml).
Component "pubsub.svom.fr"
  component_secret = "change-me"

-- XEP-0033 fan-out for the broker only (mod_voxnet_multicast ships with VOXnet).
Component "multicast.svom.fr" "voxnet_multicast"
  multicast_trusted_senders = { "pubsub.svom.fr" }
