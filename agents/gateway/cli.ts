/**
 * `voxnet gateway <kind> ...`: the gateways between VOXnet and the networks where
 * alerts travel today. Each kind is imported only when asked for.
 */
import { UsageError } from '../lib/options.ts';

type GatewayEntry = { summary: string; run: (argv: string[]) => Promise<number> };

const gateways: Record<string, GatewayEntry> = {
  kafka: {
    summary: 'Kafka topics ⇄ nodes per a configuration (--config FILE): VOEvent, GCN JSON, igwn.gwalert, Hopskotch headers',
    run: async (argv) => (await import('./kafka/cli.ts')).kafkaCommand(argv),
  },
  gcn: {
    summary: 'GCN Kafka → nodes: --client-id ID --topic TOPIC[=NODE]... [--from earliest|latest|ISO] (OIDC, token renewed)',
    run: async (argv) => (await import('./kafka/cli.ts')).gcnCommand(argv),
  },
  hop: {
    summary: 'Hopskotch ⇄ a node: --url kafka://USER@HOST/TOPIC --node NODE [--direction in|out|both]',
    run: async (argv) => (await import('./kafka/cli.ts')).hopCommand(argv),
  },
  vtp: {
    summary: 'VOEvent Transport Protocol (Comet, 4PiSky): subscriber or broker (--config FILE)',
    run: async (argv) => (await import('./vtp/cli.ts')).runVtp(argv),
  },
};

function usage(): string {
  const lines = ['usage: voxnet gateway <kind> [options]   (voxnet gateway <kind> --help for its options)', '', 'gateways:'];
  for (const [name, g] of Object.entries(gateways)) lines.push(`  ${name.padEnd(8)} ${g.summary}`);
  return lines.join('\n');
}

export async function gatewayCommand(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (!kind || kind === '-h' || kind === '--help' || kind === 'help') {
    console.log(usage());
    return kind ? 0 : 2;
  }
  const entry = gateways[kind];
  if (!entry) {
    console.error(`voxnet gateway: unknown gateway '${kind}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await entry.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`voxnet gateway ${kind}: ${e.message}\n(voxnet gateway ${kind} --help for usage)`);
      return 2;
    }
    throw e;
  }
}
