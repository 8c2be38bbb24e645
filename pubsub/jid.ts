/** JID string helpers (RFC 7622 structure; no stringprep, which the server already applied). */

export function bareJid(jid: string): string {
  const slash = jid.indexOf('/');
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
}

export function domainOf(jid: string): string {
  const bare = bareJid(jid);
  const at = bare.indexOf('@');
  return at < 0 ? bare : bare.slice(at + 1);
}

/** Structural validity: non-empty parts, sane lengths, no forbidden characters. */
export function isValidJid(jid: string): boolean {
  if (!jid || jid.length > 3071) return false;
  const slash = jid.indexOf('/');
  const bare = slash < 0 ? jid : jid.slice(0, slash);
  const resource = slash < 0 ? undefined : jid.slice(slash + 1);
  if (resource !== undefined && (resource.length === 0 || resource.length > 1023)) return false;
  const at = bare.indexOf('@');
  const local = at < 0 ? undefined : bare.slice(0, at);
  const domain = at < 0 ? bare : bare.slice(at + 1);
  if (local !== undefined && (local.length === 0 || local.length > 1023 || /[\s"&'/:<>@]/.test(local))) return false;
  if (!domain || domain.length > 1023 || /[\s@/]/.test(domain) || domain.startsWith('.') || domain.endsWith('.')) return false;
  return true;
}
