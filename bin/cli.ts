/**
 * `voxnet` subcommand dispatcher. Each subcommand lives with the part it drives;
 * this file only maps names to lazily imported handlers so start-up stays fast.
 */
export type Command = {
  summary: string;
  run: (argv: string[]) => Promise<number | void>;
};

const skymapCrossmatch: Command = {
  summary: 'rank galaxies/fields/watch-list in a sky map: FILE --catalog CSV (ligo-skymap-stats columns); the live agent is `voxnet agent crossmatch`',
  run: async (argv) => (await import('../sky/cli.ts')).crossmatchCommand(argv),
};

const commands: Record<string, Command> = {
  devnet: {
    summary: 'bring up a local network: Prosody + broker + demo agents (the quick start)',
    run: async (argv) => (await import('./devnet.ts')).devnetCommand(argv),
  },
  web: {
    summary: 'serve the alert web page: --websocket ws://HOST:PORT/xmpp-websocket [--pubsub JID] [--port 8080]',
    run: async (argv) => (await import('../web/cli.ts')).webCommand(argv),
  },
  broker: {
    summary: 'run the XEP-0060 publish-subscribe component (--config FILE)',
    run: async (argv) => (await import('../broker-component/cli.ts')).brokerCommand(argv),
  },
  doctor: {
    summary: 'check a deployment from outside: server, login, component, fan-out path, round trip, clock',
    run: async (argv) => (await import('../agents/doctor/cli.ts')).doctorCommand(argv),
  },
  backup: {
    summary: "copy the broker's database while it runs, checked: --out FILE [--config FILE | --data-dir DIR]",
    run: async (argv) => (await import('../broker-component/cli.ts')).backupCommand(argv),
  },
  agent: {
    summary: 'run an agent program: telescope, publisher (voxnet agent --help for the list)',
    run: async (argv) => (await import('../agents/cli.ts')).agentCommand(argv),
  },
  gateway: {
    summary: 'bridge VOXnet and other alert networks: kafka, gcn, hop (Hopskotch), vtp (voxnet gateway --help)',
    run: async (argv) => (await import('../agents/gateway/cli.ts')).gatewayCommand(argv),
  },
  publish: {
    summary: 'validate a VOEvent and publish it: --node NODE [FILE|-]; prints the item id',
    run: async (argv) => (await import('../agents/publish/cli.ts')).publishCommand(argv),
  },
  subscribe: {
    summary: 'print a node\'s items live with catch-up: NODE [--since ID|TIME] [--last N] [--format summary|xml|json] [--alarm-silence 5s]',
    run: async (argv) => (await import('../agents/subscribe/cli.ts')).subscribeCommand(argv),
  },
  history: {
    summary: "print a node's archive: NODE [--since TIME] [--until TIME] [--last N] [--ivorn IVORN] [--format summary|xml|json]",
    run: async (argv) => (await import('../agents/history/cli.ts')).historyCommand(argv),
  },
  event: {
    summary: "one event's thread and state (retracted? latest localisation): IVORN | event id | item id [--format summary|json]",
    run: async (argv) => (await import('../agents/event/cli.ts')).eventCommand(argv),
  },
  replay: {
    summary: 'replay real packets in time order for drills: DIR --node NODE --speed N [--as-test]',
    run: async (argv) => (await import('../agents/replay/cli.ts')).replayCommand(argv),
  },
  heartbeat: {
    summary: 'publish a heartbeat VOEvent (role=utility) every interval: --node NODE --interval 1s',
    run: async (argv) => (await import('../agents/heartbeat/cli.ts')).heartbeatCommand(argv),
  },
  validate: {
    summary: 'validate VOEvent 2.0 packets (FILE...; errors as file:line:col)',
    run: async (argv) => (await import('../voevent/cli.ts')).validateCommand(argv),
  },
  show: {
    summary: 'show a VOEvent packet as one line (--json for the model)',
    run: async (argv) => (await import('../voevent/cli.ts')).showCommand(argv),
  },
  policy: {
    summary: 'access policy: check FILE (compiled nodes, affiliations), who JID (what it may see and do)',
    run: async (argv) => {
      // The broker's configuration loader, for `who --config BROKER.yaml`: access-policy/ stays below the broker.
      const { loadBrokerConfig } = await import('../broker-component/config.ts');
      return (await import('../access-policy/cli.ts')).policyCommand(argv, { loadBrokerConfig });
    },
  },
  skymap: {
    summary: 'summarise a HEALPix sky map FILE: 50%/90% areas, densest position, distance (--json)',
    run: async (argv) => (await import('../sky/cli.ts')).skymapCommand(argv),
  },
  'skymap-crossmatch': skymapCrossmatch,
  // The wave-1 name, kept so that scripts keep working; beside `voxnet agent
  // crossmatch` (the live agent) it read as the same program.
  crossmatch: { summary: 'former name of skymap-crossmatch (kept as an alias)', run: skymapCrossmatch.run },
};

function usage(): string {
  const lines = ['usage: voxnet <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    process.exitCode = name ? 0 : 2;
    return;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`voxnet: unknown command '${name}'\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  try {
    const code = await cmd.run(rest);
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    console.error(`voxnet ${name}: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
