#!/usr/bin/env node
// The one `voxnet` entry point: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('./cli.ts');
await main(process.argv.slice(2));
