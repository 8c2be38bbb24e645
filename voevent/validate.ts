/**
 * validate(text) and validateElement(tree): schema + semantic checks.
 *
 * Engines: "fast" (default) runs the table-driven schema check on the tree the safe
 * parser made; "xsd" runs libxml2 against voevent/schema/VOEvent-v2.0.xsd (slower,
 * the reference). Both start with the safe parser, so DOCTYPE/ENTITY declarations
 * and oversized inputs are refused before libxml2 ever sees them.
 */
import { type Issue, type ValidationResult, result } from './issues.ts';
import { type FastValidateOptions, fastValidateTree } from './fast-validate.ts';
import { semanticCheckTree } from './semantic.ts';
import { type TreeOptions, type XmlElement, XmlSyntaxError, parseTree } from './tree.ts';
import { SCHEMA_PATH, xsdValidateText } from './xsd.ts';

export interface ValidateOptions extends TreeOptions {
  /** Schema engine for text input (default "fast"). */
  engine?: 'fast' | 'xsd';
  /** Run the semantic checks (default true). */
  semantic?: boolean;
  /** Schema file for the xsd engine (default: ours). */
  schemaFile?: string;
}

export interface ValidateElementOptions extends FastValidateOptions {
  semantic?: boolean;
}

function syntaxIssue(e: XmlSyntaxError): Issue {
  return { kind: 'xml', severity: 'error', line: e.line, column: e.column, path: '', message: e.message };
}

/** Validate a VOEvent element tree (e.g. the payload xmpp.js parsed) without reparsing it. */
export function validateElement(tree: XmlElement, opts: ValidateElementOptions = {}): ValidationResult {
  const issues = fastValidateTree(tree, opts);
  if (opts.semantic !== false) issues.push(...semanticCheckTree(tree));
  return result(issues);
}

/** Validate VOEvent text (or UTF-8 bytes). Never throws for bad input: problems are issues. */
export function validate(xml: string | Uint8Array, opts: ValidateOptions = {}): ValidationResult {
  let tree: XmlElement;
  try {
    tree = parseTree(xml, opts);
  } catch (e) {
    if (e instanceof XmlSyntaxError) return result([syntaxIssue(e)]);
    throw e;
  }
  if (opts.engine === 'xsd') {
    const text = typeof xml === 'string' ? xml : Buffer.from(xml).toString('utf8');
    const issues = xsdValidateText(text, opts.schemaFile ?? SCHEMA_PATH);
    if (opts.semantic !== false) issues.push(...semanticCheckTree(tree));
    return result(issues);
  }
  return validateElement(tree, { semantic: opts.semantic });
}
