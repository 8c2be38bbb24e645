import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadBrokerConfig, ConfigError } from '../broker-component/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'voxnet-cfg-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const minimal = 'xmpp_url: xmpp://127.0.0.1:5347\ndomain: pubsub.svom.fr\nsecret: s\ndata_dir: /tmp/x\n';

describe('broker configuration', () => {
  it('runs from the four variables alone, with defaults', () => {
    const c = loadBrokerConfig(undefined, { VOXNET_XMPP_URL: 'xmpp://127.0.0.1:5347', VOXNET_DOMAIN: 'pubsub.svom.fr', VOXNET_SECRET: 's', VOXNET_DATA_DIR: '/tmp/d' });
    expect(c).toMatchObject({ domain: 'pubsub.svom.fr', log_level: 'info', storage: { synchronous: 'full' }, admins: [], multicast: 'auto' });
  });

  it('lets every key be overridden by its environment variable', () => {
    const c = loadBrokerConfig(file('a.yaml', minimal + 'admins: [root@svom.fr]\n'), {
      VOXNET_DOMAIN: 'ps.example.org', VOXNET_ADMINS: 'a@x.org, b@y.org', VOXNET_STORAGE_SYNCHRONOUS: 'normal', VOXNET_MAX_ITEMS_PAGE: '50',
    });
    expect(c.domain).toBe('ps.example.org');
    expect(c.admins).toEqual(['a@x.org', 'b@y.org']);
    expect(c.storage.synchronous).toBe('normal');
    expect(c.max_items_page).toBe(50);
  });

  it('names the key and what is wrong', () => {
    const err = (text: string, env = {}) => {
      try {
        loadBrokerConfig(file('bad.yaml', text), env);
        return '';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(err(minimal + 'log_level: loud\n')).toMatch(/bad\.yaml:\d+:\d+: log_level: must be one of "trace", "debug"/);
    expect(err(minimal + 'colour: blue\n')).toMatch(/colour: is not a known key/);
    expect(err(minimal.replace('secret: s\n', ''))).toMatch(/secret: is required \(or set VOXNET_SECRET\)/);
    expect(err(minimal.replace('xmpp://127.0.0.1:5347', 'http://x'))).toMatch(/xmpp_url: must be the server's component port, e.g. xmpp:\/\/127.0.0.1:5347/);
    expect(err(minimal + 'storage: {synchronous: maybe}\n')).toMatch(/storage\.synchronous: must be one of "full", "normal"/);
    expect(err('domain: [unclosed\n')).toMatch(/bad\.yaml:\d+:\d+/);
  });

  it('selects PostgreSQL storage by file or by VOXNET_STORAGE_DRIVER / VOXNET_STORAGE_URL, and says what each driver needs', () => {
    const url = 'postgres://voxnet:s3cret-pw@db.svom.fr:5432/voxnet';
    const base = { VOXNET_XMPP_URL: 'xmpp://127.0.0.1:5347', VOXNET_DOMAIN: 'pubsub.svom.fr', VOXNET_SECRET: 's' };
    expect(loadBrokerConfig(undefined, { ...base, VOXNET_STORAGE_DRIVER: 'postgres', VOXNET_STORAGE_URL: url }).storage).toEqual({ driver: 'postgres', url, synchronous: 'full' });
    const noDir = minimal.replace('data_dir: /tmp/x\n', '');
    expect(loadBrokerConfig(file('pg.yaml', `${noDir}storage:\n  driver: postgres\n  url: ${url}\n`), {}).storage.driver).toBe('postgres');
    const err = (text: string) => {
      try {
        loadBrokerConfig(file('bad-storage.yaml', text), {});
        return '';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(err(`${noDir}storage: {driver: postgres}\n`)).toMatch(/bad-storage\.yaml:\d+:\d+: storage\.url: is required with the postgres storage driver \(or set VOXNET_STORAGE_URL\)/);
    expect(err(noDir)).toMatch(/data_dir: is required with the sqlite storage driver \(or set VOXNET_DATA_DIR\)/);
    expect(err(`${minimal}storage: {url: "${url}"}\n`)).toMatch(/storage\.url: is only for the postgres driver/);
    expect(err(`${noDir}storage: {driver: mysql}\n`)).toMatch(/storage\.driver: must be one of "sqlite", "postgres"/);
    const badScheme = err(`${noDir}storage: {driver: postgres, url: "mysql://voxnet:s3cret-pw@db/voxnet"}\n`);
    expect(badScheme).toMatch(/storage\.url: must be a PostgreSQL connection URL/);
    expect(badScheme).not.toContain('s3cret-pw');
  });

  it('the CLI exits with status 2 and a clear message on a bad file', () => {
    const r = spawnSync(process.execPath, ['bin/voxnet.js', 'broker', '--config', file('cli.yaml', minimal + 'log_level: loud\n')], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cli\.yaml:\d+:\d+: log_level: must be one of/);
  });
});
