/**
 * Policy file (YAML) → checked Policy, or a ConfigError whose lines read
 * "FILE:LINE:COL: path: message" for every problem found.
 */
import { ConfigError, parseYaml, readConfigText } from '../common/config.ts';
import { checkPolicy } from './schema.ts';
import type { Policy } from './types.ts';

/** Parse and check policy text. `source` names it in errors (usually the file name); throws ConfigError. */
export function parsePolicy(text: string, source = 'policy'): Policy {
  const { data, locate } = parseYaml(text, source);
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError(source, [{ path: [], message: 'the policy must be a mapping with version, levels and products', line: 1, col: 1 }]);
  const { policy, issues } = checkPolicy(data);
  if (!policy) {
    throw new ConfigError(
      source,
      issues.map(({ atKey, ...issue }) => {
        const pos = locate(issue.path, atKey);
        return { ...issue, line: pos?.line, col: pos?.col };
      }),
    );
  }
  return policy;
}

/** Read and check a policy file. Throws ConfigError (with file:line) on any problem. */
export function loadPolicyFile(file: string): { policy: Policy; text: string } {
  const text = readConfigText(file);
  return { policy: parsePolicy(text, file), text };
}
