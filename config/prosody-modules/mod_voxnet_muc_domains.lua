-- mod_voxnet_muc_domains: whole-domain members in members-only rooms.
--
-- VOXnet's access policy grants levels to whole domains ("every account of
-- svom.fr"), and the rooms agent (voxnet agent rooms) mirrors each level into a
-- members-only room. Prosody's MUC honours a bare-domain affiliation only for
-- outcasts; with this module, a domain affiliated "member" (set by a room owner
-- with the ordinary XEP-0045 admin IQ, jid="svom.fr") admits every JID of that
-- domain that holds no affiliation of its own. When the domain loses its
-- membership, its occupants without an affiliation of their own are removed.
--
--   Component "conference.svom.fr" "muc"
--     modules_enabled = { "voxnet_muc_domains" }

local jid_split = require "util.jid".split;

local mod_muc = module:depends "muc";
local room_mt = mod_muc.room_mt;

local original_get_affiliation = room_mt.get_affiliation;
function room_mt:get_affiliation(jid)
	local affiliation = original_get_affiliation(self, jid);
	if affiliation == nil and jid then
		local node, host = jid_split(jid);
		if node and self._affiliations[host] == "member" then
			affiliation = "member";
		end
	end
	return affiliation;
end

module:hook("muc-set-affiliation", function(event)
	local room, domain = event.room, event.jid;
	if domain:find("@", 1, true) or event.affiliation == "member" or event.previous_affiliation ~= "member" then
		return;
	end
	if not room:get_members_only() then return; end
	local leaving = {};
	for nick, occupant in room:each_occupant() do
		local _, host = jid_split(occupant.bare_jid);
		if host == domain and room:get_affiliation(occupant.bare_jid) == nil then
			table.insert(leaving, nick);
		end
	end
	for _, nick in ipairs(leaving) do
		room:set_role(true, nick, nil, "membership of "..domain.." revoked");
	end
end);

module:log("info", "whole-domain members enabled on %s", module.host);
