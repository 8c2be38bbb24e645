/**
 * Builds the page: web/src/app.ts and what it imports (voevent/, sky/,
 * @xmpp/client's browser build) into one ES module with esbuild, next to the
 * static files. Node built-ins that sky/ and voevent/ import for their file and
 * gzip paths become a stub that throws if ever called (web/shims/).
 */
import type { Plugin } from 'esbuild';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB_SRC = join(here, 'src');
export const WEB_STATIC = join(here, 'static');
export const WEB_DIST = join(here, 'dist');

const nodeBuiltins: Plugin = {
  name: 'node-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, () => ({ path: join(here, 'shims', 'node-builtin.cjs') }));
  },
};

/**
 * Builds into `outDir` (default web/dist): index.html, style.css, app.js (+ source map).
 * Where esbuild is not installed (an installed package without its devDependencies),
 * the page built before packing (npm's prepack) is used as it is.
 */
export async function buildWeb(outDir = WEB_DIST, opts: { minify?: boolean } = {}): Promise<string> {
  const out = resolve(outDir);
  let build: typeof import('esbuild').build;
  try {
    ({ build } = await import('esbuild'));
  } catch (err) {
    if (existsSync(join(WEB_DIST, 'app.js'))) return WEB_DIST;
    throw new Error(`cannot build the web page: esbuild is not installed and ${WEB_DIST} holds no built page (${(err as Error).message})`);
  }
  mkdirSync(out, { recursive: true });
  cpSync(WEB_STATIC, out, { recursive: true });
  await build({
    entryPoints: [join(WEB_SRC, 'app.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    sourcemap: true,
    minify: opts.minify ?? true,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [nodeBuiltins],
  });
  return out;
}

// `npx tsx web/build.ts [OUT_DIR]` (npm run build:web): build without serving, e.g. before `npm pack`.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildWeb(process.argv[2]);
  console.log(`web page built in ${out}`);
}
