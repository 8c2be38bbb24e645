/**
 * The Docker files cannot be built here (no Docker engine), so they are checked as
 * data: the image's Node satisfies package.json's engines, every command the compose
 * services run is a real `voxnet` command, every configuration file they mount exists,
 * and the Prosody configuration parses as Lua and declares what the broker expects.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';

const compose = YAML.parse(readFileSync('docker/compose.yaml', 'utf8')) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string>; volumes?: string[] }>;
};
const dockerfile = readFileSync('docker/Dockerfile', 'utf8');
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };

describe('docker/', () => {
  it('the image is built on a Node that package.json accepts', () => {
    const from = /^FROM\s+node:(\d+)/m.exec(dockerfile);
    expect(from, 'FROM node:<major>-...').not.toBeNull();
    const min = Number(/>=\s*(\d+)/.exec(pkg.engines.node)![1]);
    expect(Number(from![1])).toBeGreaterThanOrEqual(min);
    expect(dockerfile).toMatch(/npm ci\b/);
  });

  it('every service runs a voxnet command that exists, with configuration files that exist', () => {
    const help = spawnSync(process.execPath, ['bin/voxnet.js', 'help'], { encoding: 'utf8' }).stdout;
    const agentHelp = spawnSync(process.execPath, ['bin/voxnet.js', 'agent', '--help'], { encoding: 'utf8' });
    const agentText = agentHelp.stdout + agentHelp.stderr;
    const services = Object.entries(compose.services);
    expect(services.map(([n]) => n)).toEqual(expect.arrayContaining(['prosody', 'broker']));
    for (const [name, svc] of services) {
      const cmd = svc.command ?? [];
      const i = cmd.indexOf('bin/voxnet.js');
      if (i >= 0) {
        const sub = cmd[i + 1]!;
        expect(help, `${name}: voxnet ${sub}`).toMatch(new RegExp(`^\\s+${sub}\\s`, 'm'));
        if (sub === 'agent') expect(agentText, `${name}: voxnet agent ${cmd[i + 2]}`).toContain(cmd[i + 2]!);
      }
      for (const arg of cmd.filter((a) => a.startsWith('/etc/voxnet/'))) {
        expect(existsSync(arg.replace('/etc/voxnet/', 'config/')), `${name}: ${arg} (mounted from config/)`).toBe(true);
      }
      for (const arg of cmd.join(' ').match(/\/opt\/voxnet\/[^\s"']+/g) ?? []) {
        expect(existsSync(arg.replace('/opt/voxnet/', '')), `${name}: ${arg} (the image's copy of the repository)`).toBe(true);
      }
    }
  });

  it("the broker service's variables are ones the broker reads", async () => {
    const { envVariables } = await import('../broker-component/config.ts');
    const known = new Set(envVariables().map((v) => v.variable));
    for (const v of Object.keys(compose.services.broker!.environment ?? {})) expect(known.has(v), v).toBe(true);
  });

  it('the Prosody configuration is valid Lua, loads the multicast module from the image, and names the broker', () => {
    const luac = spawnSync('luac5.4', ['-p', 'docker/prosody.cfg.lua'], { encoding: 'utf8' });
    expect(luac.error, 'luac5.4 (Debian lua5.4) runs').toBeUndefined();
    expect(luac.stderr).toBe('');
    expect(luac.status).toBe(0);
    const cfg = readFileSync('docker/prosody.cfg.lua', 'utf8');
    const pluginPath = /plugin_paths\s*=\s*\{\s*"([^"]+)"/.exec(cfg)![1]!;
    expect(existsSync(pluginPath.replace('/opt/voxnet/', '') + '/mod_voxnet_multicast.lua')).toBe(true);
    expect(dockerfile).toMatch(/WORKDIR \/opt\/voxnet/);
    const broker = YAML.parse(readFileSync('config/broker.example.yaml', 'utf8')) as { domain: string };
    expect(cfg).toContain(`Component "${broker.domain}"`);
    expect(cfg).toMatch(new RegExp(`"voxnet_multicast"\\s+multicast_trusted_senders = \\{ "${broker.domain.replace(/\./g, '\\.')}" \\}`));
  });
});
