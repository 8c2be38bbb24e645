%%% mod_voxnet_fanout: XEP-0033 fan-out for trusted senders, encoding each
%%% notification once.
%%%
%%% A drop-in for ejabberd's mod_multicast as VOXnet's broker uses it: a service
%%% JID (option `host`, default "multicast.@HOST@") that announces
%%% http://jabber.org/protocol/address in disco#info (with its address limit in
%%% an XEP-0128 form) and accepts a <message/> carrying an <addresses/> element
%%% from senders that the `access` rule allows (default: none; anyone else gets
%%% <forbidden/>). More than `max_addresses` addresses: <not-acceptable/>.
%%%
%%% Each 'to', 'cc' and 'bcc' address (without delivered='true') gets one copy
%%% whose 'to' is that address and whose 'from' is the sender; the whole
%%% <addresses/> element is removed (VOXnet subscribers never learn of each
%%% other); duplicates are delivered once; 'uri' addresses are skipped.
%%%
%%% Fast path. The message without its addresses is encoded once
%%% (xmpp:encode + fxml:element_to_binary, exactly what a c2s process does
%%% per stanza) and split around its 'to' attribute. For a recipient that is a
%%% user of a local virtual host, each available session chosen as
%%% ejabberd_sm:route_message would choose it gets {voxnet_fanout, ...}: the two
%%% shared binaries (never copied between processes) and its own 'to'. The c2s
%%% process (a c2s_handle_info hook) writes prefix + to + suffix to its socket,
%%% after the same privacy check (privacy lists, blocking) it applies to every
%%% incoming stanza.
%%%
%%% Normal routing, wherever a session or a stanza needs more:
%%%  - in the c2s process: stream management enabled (its queue and counters),
%%%    CSI inactive (its queue), a WebSocket or BOSH session, a stream not
%%%    established: the c2s process parses the prepared bytes back into a stanza
%%%    and handles it as any routed message ({route, Msg});
%%%  - per session: a session on another cluster node gets {route, Msg} as
%%%    from ejabberd_sm;
%%%  - per recipient (ejabberd_router:route, which stores for offline users,
%%%    bounces, goes over s2s, lets mod_carboncopy copy): no available session,
%%%    a session with carbons enabled, a remote domain, a domain or service JID;
%%%  - the whole stanza: a type other than headline or normal, a storage hint;
%%%  - the recipients of a virtual host without this module, or whose hooks on
%%%    the c2s delivery path (user_receive_packet, c2s_filter_send,
%%%    c2s_handle_send) include a module not known to leave such a message
%%%    alone (mod_mam for normal messages).
%%%
%%% The service is a process per virtual host (as mod_multicast's): the
%%% sender's connection hands it the stanza and goes on. A batch is split over
%%% one worker process per scheduler, at least 40 recipients each; the
%%% service waits for them, so an IQ the sender writes after a batch (the
%%% broker's barrier) is answered after its deliveries.
%%%
%%% The counters (fast, session_fallback, routed; batches and the microseconds
%%% spent fanning them out in the routing process) are readable with the
%%% `voxnet_fanout_stats` command (ejabberdctl or mod_http_api).
%%%
%%% Build: erlc with ejabberd's and p1_xmpp's include directories (see
%%% config/ejabberd-modules/build.sh); load: the .beam directory in ejabberd's
%%% code path (erl -pa DIR, ERL_OPTIONS in ejabberdctl.cfg) and
%%%   modules:
%%%     mod_voxnet_fanout:
%%%       host: multicast.svom.fr
%%%       access: voxnet_multicast     # e.g. allow: the broker's component domain
%%%       max_addresses: 10000
-module(mod_voxnet_fanout).
-behaviour(gen_mod).
-behaviour(gen_server).

-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1, mod_doc/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).
-export([c2s_handle_info/2, stats/1, get_commands_spec/0]).

-include("xmpp.hrl").
-include("logger.hrl").
-include("ejabberd_commands.hrl").

%% xmpp_socket's state (not in a header): sockmod, socket, max_stanza_size,
%% xml_stream (undefined for WebSocket/BOSH sessions, which frame stanzas themselves), ...
-define(SOCKET_XML_STREAM(S), element(5, S)).
-define(PLACEHOLDER, <<"voxnet-fanout-placeholder@invalid">>).
-define(C_FAST, 1).
-define(C_SESSION_FALLBACK, 2).
-define(C_ROUTED, 3).
-define(C_BATCHES, 4).
%% Recipients per fan-out worker at least (below that one process does it all).
-define(SLICE, 40).
-define(C_BATCH_US, 5).

%% Modules hooked on the c2s delivery path that leave a headline from a
%% server component unchanged, or whose state the c2s check covers.
-define(KNOWN_HOOKS, [ejabberd_c2s, mod_caps, mod_carboncopy, mod_mam, mod_client_state,
                      mod_stream_mgmt, mod_push, mod_push_keepalive, mod_voxnet_fanout]).

%%% ------------------------------------------------------------------ gen_mod

start(Host, Opts) ->
    persistent_term:put({?MODULE, counters, Host}, counters:new(5, [write_concurrency])),
    ejabberd_hooks:add(c2s_handle_info, Host, ?MODULE, c2s_handle_info, 10),
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        false -> ejabberd_commands:register_commands(?MODULE, get_commands_spec());
        true -> ok
    end,
    gen_mod:start_child(?MODULE, Host, Opts).

stop(Host) ->
    ejabberd_hooks:delete(c2s_handle_info, Host, ?MODULE, c2s_handle_info, 10),
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        false -> ejabberd_commands:unregister_commands(get_commands_spec());
        true -> ok
    end,
    gen_mod:stop_child(?MODULE, Host).

reload(Host, NewOpts, _OldOpts) ->
    gen_server:cast(gen_mod:get_module_proc(Host, ?MODULE), {reload, NewOpts}).

depends(_Host, _Opts) -> [].

mod_opt_type(access) -> econf:acl();
mod_opt_type(max_addresses) -> econf:pos_int();
mod_opt_type(host) -> econf:host();
mod_opt_type(hosts) -> econf:hosts().

mod_options(Host) ->
    [{access, none},
     {max_addresses, 10000},
     {host, <<"multicast.", Host/binary>>},
     {hosts, []}].

mod_doc() ->
    #{desc => [<<"VOXnet's XEP-0033 fan-out: encodes a notification once and "
                 "writes it to each recipient's c2s socket.">>]}.

service(Opts) ->
    hd(gen_mod:get_opt_hosts(Opts)).

%%% ------------------------------------------------------------------ commands

get_commands_spec() ->
    [#ejabberd_commands{name = voxnet_fanout_stats, tags = [stats],
                        desc = "Deliveries of mod_voxnet_fanout on a virtual host",
                        module = ?MODULE, function = stats,
                        args = [{host, binary}],
                        result = {stats, {tuple, [{fast, integer},
                                                  {session_fallback, integer},
                                                  {routed, integer},
                                                  {batches, integer},
                                                  {batch_us, integer}]}}}].

stats(Host) ->
    case persistent_term:get({?MODULE, counters, jid:nameprep(Host)}, undefined) of
        undefined -> {0, 0, 0, 0, 0};
        C -> list_to_tuple([counters:get(C, I) || I <- lists:seq(1, 5)])
    end.

count(Host, Which, N) ->
    case persistent_term:get({?MODULE, counters, Host}, undefined) of
        undefined -> ok;
        C -> counters:add(C, Which, N)
    end.

%%% ------------------------------------------------------------------ the service

%% The service: one process per virtual host, like mod_multicast's, so that the
%% sender's connection goes on parsing while a batch fans out; it handles
%% batches and IQs in their order of arrival.
init([Host, Opts]) ->
    process_flag(trap_exit, true),   % terminate/2 on shutdown: the route is removed
    Service = service(Opts),
    ejabberd_router:register_route(Service, Host),
    {ok, {Host, Opts, Service}}.

handle_info({route, Pkt}, {Host, Opts, _} = State) ->
    try process(Pkt, Host, Opts)
    catch Class:Reason:St ->
            ?ERROR_MSG("mod_voxnet_fanout failed on ~ts: ~p", [xmpp:pp(Pkt), {Class, Reason, St}]),
            ejabberd_router:route_error(Pkt, xmpp:err_internal_server_error())
    end,
    {noreply, State};
handle_info(_Info, State) ->
    {noreply, State}.

handle_cast({reload, NewOpts}, {Host, _Opts, Old}) ->
    New = service(NewOpts),
    case New == Old of
        true -> ok;
        false ->
            ejabberd_router:register_route(New, Host),
            ejabberd_router:unregister_route(Old)
    end,
    {noreply, {Host, NewOpts, New}};
handle_cast(_Msg, State) ->
    {noreply, State}.

handle_call(_Req, _From, State) ->
    {reply, {error, badarg}, State}.

terminate(_Reason, {_Host, _Opts, Service}) ->
    ejabberd_router:unregister_route(Service).

code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

process(#iq{type = T} = IQ, Host, Opts) when T == get; T == set ->
    try xmpp:decode_els(IQ) of
        #iq{type = get, sub_els = [#disco_info{node = <<>>}]} ->
            ejabberd_router:route(xmpp:make_iq_result(IQ, disco_info(Opts)));
        #iq{type = get, sub_els = [#disco_items{node = <<>>}]} ->
            ejabberd_router:route(xmpp:make_iq_result(IQ, #disco_items{}));
        _ ->
            ejabberd_router:route_error(IQ, xmpp:err_service_unavailable())
    catch _:{xmpp_codec, Why} ->
            ejabberd_router:route_error(IQ, xmpp:err_bad_request(xmpp:io_format_error(Why), xmpp:get_lang(IQ)))
    end,
    _ = Host;
process(#iq{}, _Host, _Opts) -> ok;
process(#message{type = error}, _Host, _Opts) -> ok;
process(#presence{type = error}, _Host, _Opts) -> ok;
process(#message{from = From} = Msg, Host, Opts) ->
    case acl:match_rule(Host, gen_mod:get_opt(access, Opts), From) of
        allow -> multicast(Msg, Host, Opts);
        deny -> ejabberd_router:route_error(Msg, xmpp:err_forbidden())
    end;
process(Pkt, _Host, _Opts) ->
    ejabberd_router:route_error(Pkt, xmpp:err_feature_not_implemented()).

disco_info(Opts) ->
    Max = integer_to_binary(gen_mod:get_opt(max_addresses, Opts)),
    #disco_info{identities = [#identity{category = <<"service">>, type = <<"multicast">>,
                                        name = <<"VOXnet fan-out">>}],
                features = [?NS_DISCO_INFO, ?NS_DISCO_ITEMS, ?NS_ADDRESS],
                xdata = [#xdata{type = result,
                                fields = [#xdata_field{type = hidden, var = <<"FORM_TYPE">>, values = [?NS_ADDRESS]},
                                          #xdata_field{var = <<"message">>, values = [Max]}]}]}.

multicast(Msg, Host, Opts) ->
    case xmpp:get_subtag(Msg, #addresses{}) of
        false ->
            ejabberd_router:route_error(Msg, xmpp:err_bad_request(<<"No addresses element">>, xmpp:get_lang(Msg)));
        #addresses{list = Addrs} ->
            Max = gen_mod:get_opt(max_addresses, Opts),
            case length(Addrs) > Max of
                true ->
                    ejabberd_router:route_error(Msg, xmpp:err_not_acceptable(<<"Too many addresses">>, xmpp:get_lang(Msg)));
                false ->
                    T0 = erlang:monotonic_time(microsecond),
                    Recipients = recipients(Addrs),
                    Bare = xmpp:remove_subtag(Msg, #addresses{}),
                    deliver(Bare, Recipients, Host),
                    count(Host, ?C_BATCHES, 1),
                    count(Host, ?C_BATCH_US, erlang:monotonic_time(microsecond) - T0)
            end
    end.

%% Distinct JIDs of the addresses to deliver, in order.
recipients(Addrs) ->
    {Out, _} = lists:foldl(
                 fun(#address{delivered = true}, Acc) -> Acc;
                    (#address{jid = undefined}, Acc) -> Acc;   % uri addresses: nothing to route to
                    (#address{type = T, jid = J}, {L, Seen}) when T == to; T == cc; T == bcc ->
                         K = jid:tolower(J),
                         case maps:is_key(K, Seen) of
                             true -> {L, Seen};
                             false -> {[J | L], Seen#{K => true}}
                         end;
                    (_, Acc) -> Acc
                 end, {[], #{}}, Addrs),
    lists:reverse(Out).

deliver(#message{type = Type} = Msg, Recipients, Host) when Type == headline; Type == normal ->
    case xmpp:has_subtag(Msg, #hint{type = store}) of
        false ->
            %% Domains whose sessions may get the prepared bytes: local, with this
            %% module loaded (its c2s hook) and only known hooks on the delivery path.
            Domains = lists:usort([LS || #jid{lserver = LS} <- Recipients]),
            Fast = maps:from_list([{D, fast_path_host(D, Type)} || D <- Domains]),
            {Prefix, Suffix} = encode_once(Msg),
            Routed = in_parallel(fun(Js) ->
                                         {_Sent, R} = lists:foldl(fun(J, T) -> fast(Msg, J, Fast, Prefix, Suffix, T) end, {0, 0}, Js),
                                         R
                                 end, Recipients),
            count(Host, ?C_ROUTED, Routed);
        true ->
            route_each(Msg, Recipients, Host)
    end;
deliver(Msg, Recipients, Host) ->
    route_each(Msg, Recipients, Host).

%% Fun over slices of the recipients, one process per scheduler for large
%% batches; returns when all are done (the sum of their results), so that an IQ
%% the sender writes after this stanza is answered after its deliveries.
%% (Workers are monitored, not linked: a failed one is logged, the others go on.)
in_parallel(Fun, Recipients) ->
    Len = length(Recipients),
    Workers = min(erlang:system_info(schedulers_online), Len div ?SLICE),
    case Workers =< 1 of
        true -> Fun(Recipients);
        false ->
            Slices = slices(Recipients, (Len + Workers - 1) div Workers),
            Refs = [spawn_monitor(fun() -> exit({done, Fun(Slice)}) end) || Slice <- Slices],
            lists:foldl(fun({Pid, Ref}, Sum) ->
                                receive
                                    {'DOWN', Ref, process, Pid, {done, N}} -> Sum + N;
                                    {'DOWN', Ref, process, Pid, Reason} ->
                                        ?ERROR_MSG("mod_voxnet_fanout: a fan-out worker failed: ~p", [Reason]),
                                        Sum
                                end
                        end, 0, Refs)
    end.

slices([], _) -> [];
slices(L, N) when length(L) =< N -> [L];
slices(L, N) ->
    {H, T} = lists:split(N, L),
    [H | slices(T, N)].

route_each(Msg, Recipients, Host) ->
    lists:foreach(fun(J) -> ejabberd_router:route(xmpp:set_to(Msg, J)) end, Recipients),
    count(Host, ?C_ROUTED, length(Recipients)).

%% Whether a domain is a local virtual host with this module loaded and every
%% hook on its c2s delivery path one we know (mod_mam archives normal messages
%% with a body: those are routed).
fast_path_host(Host, Type) ->
    ejabberd_router:is_my_host(Host) andalso gen_mod:is_loaded(Host, ?MODULE)
        andalso known_hooks_only(Host, Type).

known_hooks_only(Host, Type) ->
    Known = case Type of
                headline -> ?KNOWN_HOOKS;
                _ -> ?KNOWN_HOOKS -- [mod_mam]
            end,
    lists:all(fun(Hook) ->
                      Handlers = try ets:lookup(hooks, {Hook, Host}) of
                                     [{_, Ls}] -> Ls;
                                     [] -> []
                                 catch _:badarg -> []
                                 end,
                      lists:all(fun(H) when is_tuple(H), tuple_size(H) >= 3 ->
                                        lists:member(element(2, H), Known);
                                   (_) -> false
                                end, Handlers)
              end, [user_receive_packet, c2s_filter_send, c2s_handle_send]).

%% The stanza as a c2s process would write it, split around its 'to' attribute.
encode_once(Msg) ->
    Placeholder = jid:decode(?PLACEHOLDER),
    El = xmpp:encode(Msg#message{to = Placeholder}, ?NS_CLIENT),
    Bin = fxml:element_to_binary(El),
    [Prefix, Suffix] = binary:split(Bin, ?PLACEHOLDER),
    {Prefix, Suffix}.

%% One recipient on the fast path where it applies; {Sent, Routed} counts.
fast(Msg, #jid{luser = LUser, lserver = LServer, lresource = LRes} = J, Fast, Prefix, Suffix, {S, R})
  when LUser /= <<>> ->
    case maps:get(LServer, Fast) of
        false -> route_one(Msg, J, S, R);
        true ->
            Sessions = ejabberd_sm:get_user_info(LUser, LServer),
            Chosen = case LRes of
                         <<>> -> choose(Sessions, Msg#message.type);
                         _ -> [RI || {Res, _} = RI <- Sessions, Res == LRes]
                     end,
            Carbons = lists:any(fun({_, Info}) -> proplists:get_value(carboncopy, Info, false) /= false end, Sessions),
            case Chosen of
                _ when Carbons -> route_one(Msg, J, S, R);   % mod_carboncopy decides who gets copies
                [] -> route_one(Msg, J, S, R);
                _ ->
                    %% 'to' as addressed: a c2s process keeps a bare 'to' (and a full one is its own JID).
                    ToAttr = fxml:crypt(jid:encode(J)),
                    lists:foreach(fun(RI) -> to_session(Msg, LUser, LServer, RI, J, ToAttr, Prefix, Suffix) end, Chosen),
                    {S + length(Chosen), R}
            end
    end;
fast(Msg, J, _Fast, _Prefix, _Suffix, {S, R}) ->
    route_one(Msg, J, S, R).

route_one(Msg, J, S, R) ->
    ejabberd_router:route(xmpp:set_to(Msg, J)),
    {S, R + 1}.

%% The sessions ejabberd_sm:route_message gives a message to a bare JID, when the
%% highest priority is non-negative: for a headline every available one with a
%% non-negative priority, else those with the highest.
choose(Sessions, Type) ->
    Avail = [{P, RI} || {_Res, Info} = RI <- Sessions,
                        P <- [proplists:get_value(priority, Info)], is_integer(P)],
    case Avail of
        [] -> [];
        _ ->
            case lists:max([P || {P, _} <- Avail]) of
                Max when Max >= 0, Type == headline -> [RI || {P, RI} <- Avail, P >= 0];
                Max when Max >= 0 -> [RI || {P, RI} <- Avail, P == Max];
                _ -> []
            end
    end.

to_session(Msg, _LUser, LServer, {_Res, Info}, To, ToAttr, Prefix, Suffix) ->
    Pid = proplists:get_value(pid, Info),
    case node(Pid) == node() of
        true ->
            Pid ! {voxnet_fanout, Msg#message.from, Msg#message.type, To, Prefix, ToAttr, Suffix};
        false ->
            count(LServer, ?C_SESSION_FALLBACK, 1),
            ejabberd_c2s:route(Pid, {route, xmpp:set_to(Msg, To)})
    end.

%%% ------------------------------------------------------------------ in the c2s process

c2s_handle_info(#{lserver := LServer} = State, {voxnet_fanout, From, Type, ToJid, Prefix, To, Suffix}) ->
    case fast_session(State) of
        true ->
            Probe = #message{from = From, to = ToJid, type = Type},
            case ejabberd_hooks:run_fold(privacy_check_packet, LServer, allow, [State, Probe, in]) of
                allow ->
                    #{socket := Sock} = State,
                    case xmpp_socket:send(Sock, [Prefix, To, Suffix]) of
                        ok -> ok;
                        {error, _} -> self() ! {'$gen_event', closed}
                    end,
                    count(LServer, ?C_FAST, 1),
                    {stop, State};
                deny when Type == headline ->
                    {stop, State};         % what ejabberd does with a headline a list denies
                deny ->
                    Msg = xmpp:decode(fxml_stream:parse_element(iolist_to_binary([Prefix, To, Suffix])), ?NS_CLIENT, [ignore_els]),
                    ejabberd_router:route_error(Msg, xmpp:err_service_unavailable()),
                    {stop, State}
            end;
        false ->
            count(LServer, ?C_SESSION_FALLBACK, 1),
            Bin = iolist_to_binary([Prefix, To, Suffix]),
            Msg = xmpp:decode(fxml_stream:parse_element(Bin), ?NS_CLIENT, [ignore_els]),
            {stop, ejabberd_c2s:process_info(State, {route, Msg})}
    end;
c2s_handle_info(State, _) ->
    State.

%% A session whose socket the prepared bytes may go to as they are.
fast_session(#{socket := Sock, stream_state := established, stream_header_sent := true} = State) ->
    maps:get(mgmt_state, State, inactive) == inactive
        andalso maps:get(csi_state, State, active) == active
        andalso not maps:get(push_enabled, State, false)
        andalso is_tuple(Sock) andalso ?SOCKET_XML_STREAM(Sock) /= undefined;
fast_session(_) ->
    false.
