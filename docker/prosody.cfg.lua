-- A production-shaped Prosody configuration for VOXnet (docker/compose.yaml mounts it at
-- /etc/voxnet/prosody.cfg.lua; the tests and `make up` generate an equivalent one:
-- broker-component/servers/prosody.ts). See docs/deploy.md for each setting.
daemonize = false
pidfile = "/var/lib/prosody/prosody.pid"
data_path = "/var/lib/prosody"
plugin_paths = { "/opt/voxnet/config/prosody-modules" }
log = { info = "*console" }
certificates = "/var/lib/prosody"
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "presence", "message", "iq", "c2s", "component", "http", "websocket" }
modules_disabled = { "posix" }
c2s_require_encryption = true
network_settings = { nagle = false } -- alerts are latency-sensitive
-- ~1 MB JSON alerts (LVK sky maps in igwn.gwalert) must fit in one stanza.
c2s_stanza_size_limit = 2 * 1024 * 1024
component_stanza_size_limit = 4 * 1024 * 1024
s2s_stanza_size_limit = 2 * 1024 * 1024
component_ports = { 5347 }
-- Inside the compose network only; never publish the component port.
component_interfaces = { "*" }
-- XMPP over WebSocket for the web page (voxnet web --websocket wss://HOST:5281/xmpp-websocket);
-- browsers need wss:// (TLS on https_ports, or a reverse proxy in front of http_ports).
https_ports = { 5281 }

VirtualHost "svom.fr"
VirtualHost "svom.cn"

-- The VOXnet broker, an external component (voxnet broker --config broker.yaml).
Component "pubsub.svom.fr"
  component_secret = os.getenv("VOXNET_SECRET") or "change-me"

-- XEP-0033 fan-out for the broker only (mod_voxnet_multicast ships with VOXnet).
Component "multicast.svom.fr" "voxnet_multicast"
  multicast_trusted_senders = { "pubsub.svom.fr" }
