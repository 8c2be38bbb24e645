/** Validation findings shared by the XML parser, the schema validators and the semantic checks. */

export type IssueKind = 'xml' | 'schema' | 'semantic';
export type Severity = 'error' | 'warning';

export interface Issue {
  kind: IssueKind;
  severity: Severity;
  /** 1-based; 0 when the input had no source positions (e.g. an xmpp.js element tree). */
  line: number;
  column: number;
  /** Element path of the field, e.g. /VOEvent/Who/Date or /VOEvent/What/Param[3]@value. */
  path: string;
  message: string;
}

export interface ValidationResult {
  /** True when there is no issue of severity "error". */
  valid: boolean;
  errors: Issue[];
  warnings: Issue[];
}

/** `file:line:col: message` (the form compilers and editors understand). */
export function formatIssue(issue: Issue, file = '<input>'): string {
  const sev = issue.severity === 'warning' ? 'warning: ' : '';
  return `${file}:${issue.line}:${issue.column}: ${sev}${issue.path ? issue.path + ': ' : ''}${issue.message}`;
}

export function result(issues: Issue[]): ValidationResult {
  const errors = issues.filter((i) => i.severity === 'error');
  const warnings = issues.filter((i) => i.severity === 'warning');
  return { valid: errors.length === 0, errors, warnings };
}
