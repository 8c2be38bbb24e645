// `voxnet gateway vtp` without the dispatcher: runVtp(argv) through tsx (see comet.ts).
import { register } from 'tsx/esm/api';
register();
const { runVtp } = await import('../../agents/gateway/vtp/cli.ts');
process.exitCode = await runVtp(process.argv.slice(2));
