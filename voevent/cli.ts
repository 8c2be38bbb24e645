/**
 * `voxnet validate FILE...` and `voxnet show FILE`.
 *
 * validate: checks each file against our VOEvent 2.0 XML Schema with libxml2 (the
 * reference engine; --fast uses the tree validator instead) plus the semantic
 * checks, and prints every finding as `file:line:col: message`. Exit status 0 only
 * when every file is valid; 1 when some file is invalid; 2 for usage errors.
 * show: prints the one-line summary, or the model as JSON with --json.
 */
import fs from 'node:fs';
import { formatIssue } from './issues.ts';
import { parse } from './parse.ts';
import { summary } from './summary.ts';
import { DEFAULT_MAX_BYTES, XmlSyntaxError } from './tree.ts';
import { validate } from './validate.ts';

export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

const defaultIO: CliIO = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
};

function parseMaxBytes(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : NaN;
}

function readFile(file: string, maxBytes: number): Buffer {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new Error('not a regular file');
  if (st.size > maxBytes) throw new XmlSyntaxError(`document is larger than the ${maxBytes}-byte limit`, { line: 1, column: 1, offset: 0 });
  return fs.readFileSync(file);
}

const VALIDATE_USAGE = 'usage: voxnet validate [--fast] [--no-semantic] [--quiet] [--max-bytes N] FILE...';

export async function validateCommand(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const files: string[] = [];
  let engine: 'xsd' | 'fast' = 'xsd';
  let semantic = true;
  let quiet = false;
  let maxBytes = DEFAULT_MAX_BYTES;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--fast') engine = 'fast';
    else if (a === '--no-semantic') semantic = false;
    else if (a === '--quiet' || a === '-q') quiet = true;
    else if (a === '--max-bytes') {
      const n = parseMaxBytes(argv[++i]);
      if (!n || Number.isNaN(n)) {
        io.err(VALIDATE_USAGE);
        return 2;
      }
      maxBytes = n;
    } else if (a === '-h' || a === '--help') {
      io.out(VALIDATE_USAGE);
      return 0;
    } else if (a.startsWith('-') && a !== '-') {
      io.err(`voxnet validate: unknown option ${a}\n${VALIDATE_USAGE}`);
      return 2;
    } else files.push(a);
  }
  if (files.length === 0) {
    io.err(VALIDATE_USAGE);
    return 2;
  }
  let allValid = true;
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = file === '-' ? fs.readFileSync(0) : readFile(file, maxBytes);
    } catch (e) {
      allValid = false;
      const line = e instanceof XmlSyntaxError ? `${file}:1:1: ${e.message}` : `${file}:0:0: cannot read: ${(e as Error).message}`;
      io.err(line);
      continue;
    }
    const r = validate(bytes, { engine, semantic, maxBytes });
    for (const issue of r.errors) io.err(formatIssue(issue, file));
    if (!quiet) for (const issue of r.warnings) io.err(formatIssue(issue, file));
    if (!r.valid) allValid = false;
    if (!quiet) io.out(`${file}: ${r.valid ? 'valid' : `INVALID (${r.errors.length} error${r.errors.length === 1 ? '' : 's'})`}`);
  }
  return allValid ? 0 : 1;
}

const SHOW_USAGE = 'usage: voxnet show [--json] FILE';

export async function showCommand(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let json = false;
  const files: string[] = [];
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') {
      io.out(SHOW_USAGE);
      return 0;
    } else if (a.startsWith('-') && a !== '-') {
      io.err(`voxnet show: unknown option ${a}\n${SHOW_USAGE}`);
      return 2;
    } else files.push(a);
  }
  if (files.length !== 1) {
    io.err(SHOW_USAGE);
    return 2;
  }
  const file = files[0]!;
  try {
    const bytes = file === '-' ? fs.readFileSync(0) : readFile(file, DEFAULT_MAX_BYTES);
    const ev = parse(bytes);
    io.out(json ? JSON.stringify(ev, null, 2) : summary(ev));
    return 0;
  } catch (e) {
    if (e instanceof XmlSyntaxError) io.err(`${file}:${e.line}:${e.column}: ${e.message}`);
    else io.err(`${file}:0:0: ${(e as Error).message}`);
    return 1;
  }
}
