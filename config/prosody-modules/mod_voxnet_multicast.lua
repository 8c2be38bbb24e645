-- mod_voxnet_multicast: XEP-0033 (Extended Stanza Addressing) fan-out for
-- trusted senders only.
--
-- Load it as a component of its own:
--
--   Component "multicast.svom.fr" "voxnet_multicast"
--     multicast_trusted_senders = { "voxnet.svom.fr" }  -- domains or bare JIDs
--     multicast_max_addresses = 10000                    -- optional
--
-- A <message/> (or <presence/>) sent to the component's domain with an
-- <addresses xmlns='http://jabber.org/protocol/address'/> child is accepted
-- only when its 'from' domain (or bare JID) is listed in
-- multicast_trusted_senders; anyone else gets a <forbidden/> error, so the
-- service can never be used to amplify spam. Prosody has already checked the
-- 'from' address against the session it arrived on (c2s stamps it, components
-- are held to their own domain, s2s to the authenticated domain), so it can be
-- trusted here.
--
-- Each 'to', 'cc' and 'bcc' address (without delivered='true') gets one copy
-- whose 'to' is that address and whose 'from' is the original sender. Unlike
-- the letter of XEP-0033, which keeps 'to'/'cc' visible, the whole <addresses/>
-- element is removed: VOXnet subscribers must never learn about each other.
-- Duplicate addresses are delivered once. Invalid addresses (unparseable JIDs,
-- 'uri' addresses) are skipped; the sender then gets one error message
-- (<jid-malformed/>) that lists them in an <addresses/> child, after the valid
-- ones were delivered.
--
-- Fan-out cost: the stanza is copied per recipient at the top level only (a new
-- attribute table and a new child list); the child elements themselves, i.e.
-- the payload, are shared by all copies. Routing may keep a reference to a copy
-- (queues in mod_smacks/mod_csi_simple, offline storage), which is why 'to' is
-- never rewritten on a stanza already handed over; Prosody's modules that alter
-- a delivered stanza (smacks, csi, carbons, offline, websocket) clone it first
-- and do not modify the children in place.

-- The service is a component of its own. Loaded on a VirtualHost (e.g. through a
-- global modules_enabled) it must stay inert: its handlers would otherwise swallow
-- every message to that host's users.
if module:get_host_type() ~= "component" then
	module:log("debug", "Not a component host; mod_voxnet_multicast does nothing here");
	return;
end

local st = require "util.stanza";
local jid_prep = require "util.jid".prep;
local jid_split = require "util.jid".split;

local setmetatable, getmetatable, pairs, tostring = setmetatable, getmetatable, pairs, tostring;
local core_post_stanza = prosody.core_post_stanza;

local xmlns_address = "http://jabber.org/protocol/address";
local stanza_mt = getmetatable(st.stanza("x"));

local trusted = module:get_option_set("multicast_trusted_senders", {});
local max_addresses = module:get_option_number("multicast_max_addresses", 10000);

module:depends("disco");
module:add_identity("service", "multicast", module:get_option_string("name", "VOXnet multicast"));
module:add_feature(xmlns_address);

local recipient_types = { to = true, cc = true, bcc = true };

local function is_trusted(from)
	if not from then return false; end
	local node, host = jid_split(from);
	if not host then return false; end
	if trusted:contains(host) then return true; end
	return node ~= nil and trusted:contains(node.."@"..host);
end

local function bounce(stanza, origin, err_type, condition, text)
	local t = stanza.attr.type;
	if t == "error" or t == "result" then return true; end -- never answer errors with errors
	origin.send(st.error_reply(stanza, err_type, condition, text, module.host));
	return true;
end

-- A copy of `base` sharing its child elements; only the top level is new.
local function shallow_copy(base, to)
	local attr = {};
	for k, v in pairs(base.attr) do attr[k] = v; end
	attr.to = to;
	local copy = { name = base.name, attr = attr, tags = {} };
	local tags, n_tags = copy.tags, 0;
	for i = 1, #base do
		local child = base[i];
		copy[i] = child;
		if child.name then
			n_tags = n_tags + 1;
			tags[n_tags] = child;
		end
	end
	return setmetatable(copy, stanza_mt);
end

local function handle_multicast(event)
	local origin, stanza = event.origin, event.stanza;
	local from = stanza.attr.from;

	if stanza.attr.type == "error" then return true; end -- bounces of our own copies end here

	if not is_trusted(from) then
		module:log("warn", "Refusing multicast from untrusted sender %s", tostring(from));
		return bounce(stanza, origin, "auth", "forbidden", "This multicast service is reserved to trusted senders");
	end

	local addresses = stanza:get_child("addresses", xmlns_address);
	if not addresses then
		return bounce(stanza, origin, "modify", "bad-request", "No <addresses/> element");
	end

	-- Collect recipients before sending anything: all-or-nothing on limits.
	local recipients, n, seen, bad = {}, 0, {}, nil;
	local counted = 0;
	for address in addresses:childtags("address", xmlns_address) do
		local a = address.attr;
		if recipient_types[a.type] and a.delivered ~= "true" then
			counted = counted + 1;
			if counted > max_addresses then
				return bounce(stanza, origin, "modify", "not-acceptable",
					"Too many addresses (at most "..max_addresses..")");
			end
			local to = a.jid and not a.uri and jid_prep(a.jid);
			if to then
				if not seen[to] then
					seen[to] = true;
					n = n + 1;
					recipients[n] = to;
				end
			else
				bad = bad or {};
				bad[#bad + 1] = address;
			end
		end
	end
	if counted == 0 then
		return bounce(stanza, origin, "modify", "bad-request", "No 'to', 'cc' or 'bcc' address to deliver to");
	end

	-- The payload every recipient gets: the stanza without <addresses/>.
	local base = shallow_copy(stanza, nil);
	base:remove_children("addresses", xmlns_address);
	base.attr.xmlns = nil;

	-- Copies of a stanza that came over s2s are posted from this service's host, so that
	-- a bounce of a copy (e.g. from a recipient's host) is routed by its own 'from'. Posted
	-- with the s2s session as origin, the bounce went back down the stream the original
	-- came on, which may carry only this service's address: the peer closed it (invalid-from).
	local post_origin = origin.type == "s2sin" and prosody.hosts[module.host] or origin;
	for i = 1, n do
		core_post_stanza(post_origin, shallow_copy(base, recipients[i]));
	end
	module:log("debug", "Multicast from %s to %d recipient(s), %d invalid", from, n, bad and #bad or 0);

	if bad and stanza.attr.type ~= "result" then
		local err = st.error_reply(stanza, "modify", "jid-malformed",
			#bad.." address(es) could not be parsed and were skipped", module.host);
		err:reset():tag("addresses", { xmlns = xmlns_address });
		for _, address in pairs(bad) do
			err:add_child(st.clone(address));
		end
		err:up();
		origin.send(err);
	end
	return true;
end

module:hook("message/host", handle_multicast);
module:hook("presence/host", handle_multicast);

-- Stanzas addressed to node@ or resource of the service are not for us.
local function refuse(event)
	return bounce(event.stanza, event.origin, "cancel", "service-unavailable");
end
module:hook("message/bare", refuse);
module:hook("message/full", refuse);
module:hook("presence/bare", function () return true; end);
module:hook("presence/full", function () return true; end);
