-- Where Prosody's time per delivery goes, in part: serializing a notification for each
-- recipient (what Prosody does per copy) against splicing the recipient into bytes
-- serialized once (what mod_voxnet_multicast's serialize-once path does per session).
-- Runs Prosody's own util.stanza and util.xml under Debian's lua5.4:
--
--   lua5.4 bench/prosody-serialize.lua bench/fixtures/fink-mm__fermi_voevent_number_2842__LAT_Monitor.xml
--
-- Prints CPU µs per copy (os.clock: this process's CPU time) for both.
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local st = require "util.stanza"
local xml = require "util.xml"
local f = io.open(arg[1]); local text = f:read("a"); f:close()
text = text:gsub("^%s*<%?xml[^>]*%?>", "")
local payload = assert(xml.parse(text))
local base = st.message({ from = "pubsub-mc.svom.fr", type = "headline", id = "vx123" })
  :tag("event", { xmlns = "http://jabber.org/protocol/pubsub#event" })
  :tag("items", { node = "fanout-n1000" }):tag("item", { id = "vxb~1~2~3~", publisher = "benchpub@svom.fr" })
  :add_child(payload):up():up():up()
local N = 20000
local clock = os.clock
local t0 = clock()
local total = 0
for i = 1, N do
  base.attr.to = "sub" .. i .. "@svom.fr"
  total = total + #tostring(base)
end
local t1 = clock()
base.attr.to = nil
local s = tostring(base)
local head, tail = "<message to='", "'" .. s:sub(#"<message" + 1)
for i = 1, N do
  total = total + #(head .. st.xml_escape("sub" .. i .. "@svom.fr") .. tail)
end
local t2 = clock()
print(("bytes %d; tostring per copy %.1f us; prepared bytes per copy %.2f us"):format(#s, (t1 - t0) / N * 1e6, (t2 - t1) / N * 1e6))
