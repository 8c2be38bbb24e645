/**
 * Where notifications go: a webhook taking Slack-compatible JSON (Slack, and
 * Mattermost, which accepts the same payload) or e-mail through SMTP with TLS
 * (nodemailer). A notice is rendered when sent; a channel resolves with the
 * Message-ID it used (e-mail) or nothing, and throws on failure (HTTP status,
 * SMTP error) so that the agent retries.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { formatRadius } from '../../voevent/index.ts';
import type { Alert } from '../lib/alert.ts';
import { alertLink } from '../lib/alert.ts';

/** What a notification says, kept as data in the outbox. */
export type Notice = {
  kind: 'alert' | 'retraction';
  summary: string;
  link?: string;
  node: string;
  item: string;
  ivorn?: string;
  role?: string;
  importance?: number;
  time?: string;
  position?: string;
  params: [string, string][];
  /** For a retraction: what is retracted, and the Message-ID of the original e-mail. */
  retracted?: { summary?: string; ivorn?: string; messageId?: string };
};

export function noticeOf(a: Alert, alertUrl?: string): Notice {
  const ev = a.voevent;
  const pos = ev?.whereWhen?.position;
  const params: [string, string][] = [];
  for (const p of ev?.what?.params ?? []) if (p.name && p.value !== undefined && params.length < 12) params.push([p.name, p.unit ? `${p.value} ${p.unit}` : p.value]);
  return {
    kind: 'alert',
    summary: a.summary,
    ...(alertUrl ? { link: alertLink(alertUrl, a) } : {}),
    node: a.node,
    item: a.id,
    ...(a.ivorn ? { ivorn: a.ivorn } : {}),
    ...(a.role ? { role: a.role } : {}),
    ...(a.importance !== undefined ? { importance: a.importance } : {}),
    ...(ev?.whereWhen?.time?.iso ? { time: ev.whereWhen.time.iso } : {}),
    ...(pos ? { position: `RA ${pos.ra.toFixed(4)} Dec ${pos.dec.toFixed(4)}${pos.error > 0 ? ` ±${formatRadius(pos.error)}` : ''}` } : {}),
    params,
  };
}

export type WebhookEndpoint = { webhook: string; format?: 'slack' | 'mattermost'; username?: string; channel?: string; timeout_ms?: number };
export type EmailEndpoint = { email: { to: string[]; from?: string } };
export type Endpoint = WebhookEndpoint | EmailEndpoint;

export type SmtpConfig = {
  host: string;
  port?: number;
  /** true: TLS from the first byte (port 465); false (default): STARTTLS, required. */
  secure?: boolean;
  user?: string;
  password?: string;
  /** Extra CA certificates (PEM files) to trust. */
  ca?: string[];
  from?: string;
};

export type Channel = { send(n: Notice, key: string): Promise<string | undefined>; close?(): void };

function fields(n: Notice): { title: string; value: string; short: boolean }[] {
  const f = [{ title: 'Node', value: n.node, short: true }];
  if (n.role) f.push({ title: 'Role', value: n.role, short: true });
  if (n.importance !== undefined) f.push({ title: 'Importance', value: String(n.importance), short: true });
  if (n.time) f.push({ title: 'Time', value: n.time, short: true });
  if (n.position) f.push({ title: 'Position', value: n.position, short: true });
  for (const [k, v] of n.params.slice(0, 6)) f.push({ title: k, value: v, short: true });
  return f;
}

/** The webhook body: Slack's incoming-webhook JSON, which Mattermost also accepts. */
export function webhookBody(n: Notice, ep: WebhookEndpoint): Record<string, unknown> {
  const link = (url: string, text: string) => (ep.format === 'mattermost' ? `[${text}](${url})` : `<${url}|${text}>`);
  const retraction = n.kind === 'retraction';
  const head = retraction ? `RETRACTED: ${n.retracted?.summary ?? n.retracted?.ivorn ?? ''}` : n.summary;
  const text = `${retraction ? ':x: ' : ''}${head}${n.link ? ` — ${link(n.link, 'open')}` : ''}`;
  return {
    text,
    ...(ep.username ? { username: ep.username } : {}),
    ...(ep.channel ? { channel: ep.channel } : {}),
    attachments: [
      {
        fallback: head,
        color: retraction ? '#808080' : n.role === 'test' ? '#439fe0' : '#d00000',
        title: retraction ? `Retraction (${n.summary})` : (n.ivorn ?? n.item),
        ...(n.link ? { title_link: n.link } : {}),
        fields: fields(n),
        footer: 'VOXnet',
      },
    ],
  };
}

export function webhookChannel(ep: WebhookEndpoint): Channel {
  return {
    async send(n, key) {
      const res = await fetch(ep.webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': keyHash(key) },
        body: JSON.stringify(webhookBody(n, ep)),
        signal: AbortSignal.timeout(ep.timeout_ms ?? 15_000),
      });
      if (!res.ok) {
        const body = (await res.text().catch(() => '')).slice(0, 200);
        throw new Error(`webhook answered HTTP ${res.status}${body ? `: ${body}` : ''}`);
      }
      await res.arrayBuffer().catch(() => undefined);
      return undefined;
    },
  };
}

const keyHash = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 32);

/** A stable Message-ID per notification, so a resend after a crash is recognisably the same mail. */
export function messageIdFor(key: string, host = 'voxnet.invalid'): string {
  return `<${keyHash(key)}@${host}>`;
}

export function emailText(n: Notice): { subject: string; text: string } {
  const retraction = n.kind === 'retraction';
  const head = retraction ? `RETRACTED: ${n.retracted?.summary ?? n.retracted?.ivorn ?? n.summary}` : n.summary;
  const subject = `[VOXnet] ${head}`.replace(/\s+/g, ' ').slice(0, 180);
  const lines = [head, ''];
  if (retraction) lines.push(`Retracted by: ${n.summary}`, '');
  if (n.link) lines.push(`Open: ${n.link}`, '');
  for (const f of fields(n)) lines.push(`${f.title.padEnd(12)} ${f.value}`);
  lines.push('', '-- ', 'VOXnet notification agent');
  return { subject, text: lines.join('\n') };
}

export function emailChannel(ep: EmailEndpoint, smtp: SmtpConfig): Channel {
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port ?? (smtp.secure ? 465 : 587),
    secure: smtp.secure ?? false,
    requireTLS: !smtp.secure,
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
    tls: smtp.ca?.length ? { ca: smtp.ca.map((f) => readFileSync(f, 'utf8')) } : {},
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
  });
  const from = ep.email.from ?? smtp.from ?? 'voxnet@localhost';
  return {
    async send(n, key) {
      const { subject, text } = emailText(n);
      const messageId = messageIdFor(key, from.split('@')[1]?.replace(/>$/, '') || undefined);
      const orig = n.retracted?.messageId;
      await transport.sendMail({ from, to: ep.email.to, subject, text, messageId, ...(orig ? { inReplyTo: orig, references: [orig] } : {}) });
      return messageId;
    },
    close: () => transport.close(),
  };
}
