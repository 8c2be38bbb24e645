/**
 * OIDC client credentials for Kafka's OAUTHBEARER (GCN's way in): a token from
 * the token endpoint (`grant_type=client_credentials`, HTTP Basic), kept until
 * shortly before it expires and then replaced. kafkajs asks for a token at each
 * (re-)authentication (it re-authenticates before the session the broker granted
 * runs out), so a long-running consumer never stops at the token's lifetime —
 * the classic GCN failure after an hour.
 */
export type OAuthOptions = {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  /** Renew when less than this is left (default 60 s, at most half the token's lifetime). */
  refreshMarginMs?: number;
  /** Told about each new token (logs, tests). Never the token itself. */
  onToken?: (info: { expiresInMs: number }) => void;
  fetch?: typeof fetch;
};

export class TokenError extends Error {
  override name = 'TokenError';
}

export function oauthTokenProvider(o: OAuthOptions): () => Promise<{ value: string }> {
  let token: { value: string; expiresAt: number; lifetimeMs: number } | undefined;
  let inflight: Promise<{ value: string }> | undefined;
  const margin = () => Math.min(o.refreshMarginMs ?? 60_000, (token?.lifetimeMs ?? 0) / 2);
  const fetchToken = async (): Promise<{ value: string }> => {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (o.scope) body.set('scope', o.scope);
    const res = await (o.fetch ?? fetch)(o.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString('base64')}`,
      },
      body,
      signal: AbortSignal.timeout(15_000),
    });
    if (!res.ok) throw new TokenError(`token endpoint ${o.tokenUrl} answered ${res.status} ${res.statusText}`);
    const j = (await res.json()) as { access_token?: string; expires_in?: number };
    if (!j.access_token) throw new TokenError(`token endpoint ${o.tokenUrl} returned no access_token`);
    const lifetimeMs = (j.expires_in ?? 3600) * 1000;
    token = { value: j.access_token, expiresAt: Date.now() + lifetimeMs, lifetimeMs };
    o.onToken?.({ expiresInMs: lifetimeMs });
    return { value: token.value };
  };
  return async () => {
    if (token && token.expiresAt - Date.now() > margin()) return { value: token.value };
    inflight ??= fetchToken().finally(() => (inflight = undefined));
    return inflight;
  };
}
