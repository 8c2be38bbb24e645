/**
 * `voxnet agent <name> ...`: one subcommand per agent program in agents/<name>/,
 * each imported only when asked for. Add an agent by adding a line to `agents`.
 */
import { UsageError } from './lib/options.ts';

type AgentEntry = { summary: string; run: (argv: string[]) => Promise<number> };

const agents: Record<string, AgentEntry> = {
  telescope: {
    summary: 'robotic telescope: decide per alert, request/schedule/update/cancel observations (--config FILE [--explain PACKET])',
    run: async (argv) => (await import('./telescope/cli.ts')).telescopeCommand(argv),
  },
  crossmatch: {
    summary: 'localisation × galaxy catalogue / fields / watch-list per alert; JSON + VOEvent result on a derived node, withdrawn on retraction (--config FILE [--dry-run ALERT])',
    run: async (argv) => (await import('./crossmatch/cli.ts')).crossmatchCommand(argv),
  },
  publisher: {
    summary: 'science-centre publisher: inbox (VOEvent XML or JSON burst) → validate → product node; done/ or failed/ (--config FILE [--once])',
    run: async (argv) => (await import('./publisher/cli.ts')).publisherCommand(argv),
  },
  rooms: {
    summary: 'relay alerts into XEP-0045 rooms, one per product and level, members following the access policy (--config FILE)',
    run: async (argv) => (await import('./rooms/cli.ts')).roomsCommand(argv),
  },
  mirror: {
    summary: "broker mirroring: republish chosen nodes of the peer side's pubsub service on this side's, same ids, catch-up after partitions, no loops (--config FILE)",
    run: async (argv) => (await import('./mirror/cli.ts')).mirrorCommand(argv),
  },
  notify: {
    summary: 'webhook (Slack/Mattermost) and e-mail notifications per rule: node, role, importance, parameters, quiet hours (--config FILE)',
    run: async (argv) => (await import('./notify/cli.ts')).notifyCommand(argv),
  },
};

function usage(): string {
  const lines = ['usage: voxnet agent <name> [options]   (voxnet agent <name> --help for its options)', '', 'agents:'];
  for (const [name, a] of Object.entries(agents)) lines.push(`  ${name.padEnd(12)} ${a.summary}`);
  return lines.join('\n');
}

export async function agentCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const entry = agents[name];
  if (!entry) {
    console.error(`voxnet agent: unknown agent '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await entry.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`voxnet agent ${name}: ${e.message}\n(voxnet agent ${name} --help for usage)`);
      return 2;
    }
    throw e;
  }
}
