/**
 * Node and item identifiers: at most 1023 bytes of UTF-8 (the limit of each JID
 * part, RFC 7622), and no control characters (C0, DEL, C1 such as U+0085), which
 * no client can show and XML 1.0 forbids or discourages.
 */
export const ID_MAX_BYTES = 1023;

/** What is wrong with this identifier, or undefined when it is fine. */
export function idProblem(id: string): string | undefined {
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > ID_MAX_BYTES) return `is ${bytes} bytes long; at most ${ID_MAX_BYTES} are allowed`;
  const m = /[\u0000-\u001f\u007f-\u009f]/.exec(id);
  if (m) return `contains the control character U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at position ${m.index}`;
  return undefined;
}
