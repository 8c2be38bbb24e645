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
--
-- Serialized once (multicast_serialize_once, on by default): a <message/>'s copies
-- share one serialization. The copy for each recipient is still routed by Prosody
-- (core_post_stanza: the recipient host's message/bare or message/full hooks run:
-- blocklist, carbons, MAM, ...), and at the very end, where mod_message would call
-- session.send() for each session that routing rule picks, a hook of this module
-- (on every local VirtualHost, just above mod_message) writes the prepared bytes,
-- `<message to='` .. escaped recipient .. `'` .. the rest serialized once, to the
-- session's connection instead. Everything else takes Prosody's own path, byte for
-- byte as without this option:
--   * a session with stream management (mod_smacks: its queue must hold the
--     stanza), in a CSI inactive state (mod_csi_simple holds or flushes it),
--     over WebSocket or BOSH (other framing), not yet a bound c2s session, or with
--     any outgoing stanza or byte filter of another module: session.send(stanza);
--   * a recipient with no session (offline storage or discard), on another server
--     (s2s), a component, a message of type error or groupchat: mod_message and
--     routing as usual;
--   * every copy as soon as another module hooked message/bare or message/full
--     below us (it would never run), or changed or replaced the copy on its way
--     (e.g. MAM's <stanza-id/>): the whole copy is left to mod_message.
-- Module-level debug logs give, per batch, how many sessions got the shared bytes
-- and why the others did not.

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
local get_module = require "core.modulemanager".get_module;

local setmetatable, getmetatable, pairs, tostring, rawequal = setmetatable, getmetatable, pairs, tostring, rawequal;
local core_post_stanza = prosody.core_post_stanza;
local bare_sessions, full_sessions = prosody.bare_sessions, prosody.full_sessions;
local xml_escape = st.xml_escape;

local xmlns_address = "http://jabber.org/protocol/address";
local stanza_mt = getmetatable(st.stanza("x"));

local trusted = module:get_option_set("multicast_trusted_senders", {});
local max_addresses = module:get_option_number("multicast_max_addresses", 10000);
local serialize_once = module:get_option_boolean("multicast_serialize_once", true);

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

-- Serialized once ------------------------------------------------------------

-- The copy being routed right now, and what its recipients' sessions may be sent
-- instead of it: routing is synchronous, so these hold for one core_post_stanza().
local fast_copy, fast_to, fast_batch;
-- Per batch: sessions written the shared bytes, and the others by reason.
local tally;

local function count(reason)
	tally[reason] = (tally[reason] or 0) + 1;
end

-- Why a session must get the stanza through session.send(), or nil when the
-- prepared bytes are exactly what session.send() would write.
local function needs_routing(session)
	if session.websocket_request then return "websocket"; end
	if session.bosh_version then return "bosh"; end
	if session.smacks or session.hibernating then return "smacks"; end
	if session.type ~= "c2s" or not session.conn or not session.rawsend or session.destroyed then return "not-c2s"; end
	if session.state ~= nil and session.state ~= "active" then return "csi"; end
	local filters = session.filters;
	if filters then
		local out = filters["stanzas/out"];
		if out and out[1] then return "stanza-filter"; end
		out = filters["bytes/out"];
		if out and out[1] then return "byte-filter"; end
	end
	return nil;
end

-- The copy is still the one we prepared: same top-level attributes but 'to', same children.
local function unchanged(copy)
	local base = fast_batch.base;
	if copy.name ~= base.name or copy.attr.to ~= fast_to or #copy ~= #base then return false; end
	for i = 1, #base do
		if not rawequal(copy[i], base[i]) then return false; end
	end
	local n = 0;
	for k, v in pairs(copy.attr) do
		n = n + 1;
		if k ~= "to" and base.attr[k] ~= v then return false; end
	end
	return n == fast_batch.n_attr + 1;
end

-- Deliver to one session: the shared bytes, or the stanza through the session's own send().
local function send_to(session, stanza)
	local why = needs_routing(session);
	if why then
		count(why);
		return session.send(stanza);
	end
	local bytes = fast_batch.bytes_for_to;
	if not bytes then
		bytes = fast_batch.head..xml_escape(fast_to)..fast_batch.tail;
		fast_batch.bytes_for_to = bytes;
	end
	count("once");
	return session.rawsend(bytes);
end

-- On a VirtualHost: whether mod_message's handler is the only one that runs after ours.
local function chain_checker(host, events, event_name, ours)
	local seen_index, verdict;
	return function ()
		local index = events.get_handlers(event_name);
		if index == seen_index then return verdict; end
		verdict = false;
		local message = get_module(host, "message");
		local theirs = message and message.module.event_handlers:get(events, event_name);
		for i = 1, #index do
			if index[i] == ours then
				verdict = theirs ~= nil and #index == i + 1 and theirs[index[i + 1]] ~= nil;
				break;
			end
		end
		if not verdict then
			module:log("info", "Routing each copy normally on %s: a handler of %s other than mod_message's runs after ours", host, event_name);
		end
		seen_index = index;
		return verdict;
	end
end

-- mod_message's rules (process_to_bare), with send_to() in place of session.send().
local function deliver_bare(event)
	local stanza = event.stanza;
	local user = bare_sessions[fast_to];
	if not user then count("offline"); return; end -- offline storage, or discard: mod_message's call
	local t = stanza.attr.type;
	if t == "headline" then
		for _, session in pairs(user.sessions) do
			if session.presence and session.priority >= 0 then
				send_to(session, stanza);
			end
		end
		return true;
	elseif t == "error" or t == "groupchat" then
		count("type"); return;
	end
	local recipients = user.top_resources;
	if not recipients then count("offline"); return; end
	local sent;
	for i = 1, #recipients do
		sent = send_to(recipients[i], stanza) or sent;
	end
	if sent then return true; end
	-- Nothing was delivered: mod_message tries again, then offline storage.
end

local function deliver_full(event)
	local stanza = event.stanza;
	local session = full_sessions[fast_to];
	if not session then count("offline"); return; end -- mod_message falls back to the bare JID's rules
	local why = needs_routing(session);
	if why then count(why); return; end -- mod_message: session.send(stanza), then the bare JID's rules if that fails
	if send_to(session, stanza) then return true; end
end

local function hook_host(host)
	local h = prosody.hosts[host];
	if not h or h.type ~= "local" then return; end
	for event_name, deliver in pairs({ ["message/bare"] = deliver_bare, ["message/full"] = deliver_full }) do
		local ok;
		local function handler(event)
			if fast_copy == nil then return; end -- not ours
			-- Another module put a stanza of its own in its place (e.g. MAM's copy without
			-- foreign <stanza-id/>s): that one is mod_message's.
			if event.stanza ~= fast_copy then count("replaced"); return; end
			if not ok() or not unchanged(event.stanza) then count("routed"); return; end
			return deliver(event);
		end
		ok = chain_checker(host, h.events, event_name, handler);
		-- Just above mod_message (-1), below every other module's handler (blocklist, MAM, carbons...).
		module:hook_object_event(h.events, event_name, handler, -0.99);
	end
end

if serialize_once then
	for host in pairs(prosody.hosts) do hook_host(host); end
	module:hook_global("host-activated", hook_host);
end

-- Serialize `base` (no 'to') once: each copy is head .. escaped 'to' .. tail.
local function prepare(base)
	if base.name ~= "message" then return nil; end
	local s = tostring(base);
	local open = "<"..base.name;
	if s:sub(1, #open) ~= open then return nil; end
	local n_attr = 0;
	for _ in pairs(base.attr) do n_attr = n_attr + 1; end
	return { base = base, n_attr = n_attr, head = open.." to='", tail = "'"..s:sub(#open + 1) };
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
	local batch = serialize_once and prepare(base);
	if batch then
		tally = {};
		for i = 1, n do
			local to = recipients[i];
			local copy = shallow_copy(base, to);
			fast_copy, fast_to, fast_batch = copy, to, batch;
			batch.bytes_for_to = nil;
			local ok, err = pcall(core_post_stanza, post_origin, copy);
			fast_copy, fast_to, fast_batch = nil, nil, nil;
			if not ok then error(err, 0); end
		end
		local parts = {};
		for reason, k in pairs(tally) do
			if reason ~= "once" then parts[#parts + 1] = reason.."="..k; end
		end
		table.sort(parts);
		module:log("debug", "Multicast %s from %s to %d recipient(s), %d invalid: serialized once for %d session(s); routed: %s",
			tostring(stanza.attr.id), from, n, bad and #bad or 0, tally.once or 0, #parts > 0 and table.concat(parts, " ") or "none");
	else
		for i = 1, n do
			core_post_stanza(post_origin, shallow_copy(base, recipients[i]));
		end
		module:log("debug", "Multicast from %s to %d recipient(s), %d invalid", from, n, bad and #bad or 0);
	end

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
