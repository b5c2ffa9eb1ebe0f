/**
 * The one list of settings (src/cli/config/registry.ts): the README's Configuration table is the one it
 * generates; every option of `serve` and `worker` is a row of it, with the row's variable; every variable the
 * sources read is in it; and a config file applies under the precedence flag > environment > file > default,
 * checked on a real `segserve serve`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { applyConfigFile, readConfigFile } from '../../src/cli/config/file.js';
import { withSettingsTable } from '../../src/cli/config/readme.js';
import {
  SETTINGS,
  type SettingCommand,
  settingEnvNames,
  settingOption,
} from '../../src/cli/config/registry.js';
import { addServeCommand } from '../../src/cli/serve.js';
import { addWorkerCommand } from '../../src/cli/worker.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { freePort, writeRepository } from '../http/helpers.js';
import { startLogged } from './process-log.js';

/** Variables the sources read that are not settings: set by the platform, not by an operator. */
const NOT_SETTINGS = new Map([['HOSTNAME', 'the pod or machine name, recorded as the job worker identity']]);

function commandOf(name: SettingCommand): Command {
  const program = new Command();
  const models = () => settingOption('models', 'serve', '<dir>');
  if (name === 'serve') addServeCommand(program, models);
  else addWorkerCommand(program, models);
  const [command] = program.commands;
  return command;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('the settings registry', () => {
  it('gives every setting one key and one variable', () => {
    const keys = SETTINGS.map((setting) => setting.key);
    const envs = SETTINGS.map((setting) => setting.env);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(envs).size).toBe(envs.length);
    for (const setting of SETTINGS) {
      expect(setting.key).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(setting.description).toMatch(/\S/);
      if (setting.secret) expect(Object.values(setting.commands).every((flag) => flag === null)).toBe(true);
    }
  });

  it('is what the README "Configuration" table shows (npm run docs:settings rewrites it)', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    expect(withSettingsTable(readme), 'README settings table is stale: run npm run docs:settings').toBe(
      readme,
    );
  });

  it.each(['serve', 'worker'] as const)(
    'lists every option of %s, with the variable the option reads',
    (name) => {
      const command = commandOf(name);
      const rows = new Map(
        SETTINGS.filter((setting) => setting.commands[name]).map((setting) => [
          setting.commands[name],
          setting,
        ]),
      );
      const flags = command.options.map((option) => option.long);
      for (const option of command.options) {
        const row = rows.get(option.long as `--${string}`);
        expect(row, `${name} ${option.long} is not in the registry`).toBeDefined();
        if (option.envVar) expect(option.envVar, `${name} ${option.long}`).toBe(row?.env);
      }
      for (const flag of rows.keys()) expect(flags, `the registry lists ${flag} for ${name}`).toContain(flag);
    },
  );

  it('holds every variable the sources read', () => {
    const known = settingEnvNames();
    const read = new Set<string>();
    for (const file of sourceFiles(join(PROJECT_ROOT, 'src'))) {
      const code = readFileSync(file, 'utf8');
      for (const pattern of [
        /process\.env\.([A-Z][A-Z0-9_]*)/g,
        /\.env\(\s*'([A-Z][A-Z0-9_]*)'\s*\)/g,
        /['"`]((?:SEGSERVE|AWS)_[A-Z0-9_]+)['"`]/g,
      ]) {
        for (const match of code.matchAll(pattern)) read.add(match[1]);
      }
    }
    expect(read.size).toBeGreaterThan(40);
    const missing = [...read].filter((name) => !known.has(name) && !NOT_SETTINGS.has(name));
    expect(missing, 'variables read by src/ but missing from the registry').toEqual([]);
  });
});

describe('config file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const write = async (name: string, document: unknown) => {
    const path = join(dir, name);
    await writeFile(path, typeof document === 'string' ? document : stringify(document));
    return path;
  };

  it('maps keys to their variables, lists comma-separated', async () => {
    const path = await write('ok.yaml', {
      port: 9000,
      'allow-url': ['10.0.0.0/8', '192.168.1.1'],
      watch: 'off',
      'max-image-bytes': '8MiB',
      'events-token': 'from-a-file',
      'default-model': null,
    });
    expect(Object.fromEntries(readConfigFile(path))).toEqual({
      PORT: '9000',
      SEGSERVE_ALLOW_URL: '10.0.0.0/8,192.168.1.1',
      SEGSERVE_WATCH: 'off',
      SEGSERVE_MAX_IMAGE_BYTES: '8MiB',
      SEGSERVE_EVENTS_TOKEN: 'from-a-file',
    });
  });

  it('fills only the variables left unset or empty', async () => {
    const path = await write('fill.yaml', { port: 9000, host: '127.0.0.1', 'log-level': 'debug' });
    const env: Record<string, string | undefined> = { PORT: '7000', HOST: ' ' };
    expect(applyConfigFile(path, env)).toEqual(['HOST', 'LOG_LEVEL']);
    expect(env).toEqual({ PORT: '7000', HOST: '127.0.0.1', LOG_LEVEL: 'debug' });
  });

  it('refuses an unknown key, naming the nearest, and a file that is not a map', async () => {
    const typo = await write('typo.yaml', { 'max-image-byte': '8MiB' });
    expect(() => readConfigFile(typo)).toThrow(/unknown setting "max-image-byte" \(nearest: max-image-bytes/);
    const list = await write('list.yaml', '- port\n');
    expect(() => readConfigFile(list)).toThrow(/must be a map of settings/);
    const nested = await write('nested.yaml', { port: { value: 1 } });
    expect(() => readConfigFile(nested)).toThrow(/"port" must be a string/);
    expect(() => readConfigFile(join(dir, 'absent.yaml'))).toThrow(/cannot be read \(ENOENT\)/);
  });

  it('serve: flag > environment > file > default, and the port from the file', async () => {
    const models = await writeRepository({ tiny: tinySoftmaxModel() });
    const port = await freePort();
    const path = await write('serve.yaml', {
      port,
      host: '127.0.0.1',
      'data-dir': join(dir, 'data'),
      'max-json-bytes': '4KiB', // also in the environment and on the command line
      'max-batch-items': 9, // also in the environment
      'max-image-bytes': '5MiB', // only here
      watch: 'off',
    });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SEGSERVE_MAX_JSON_BYTES: '3KiB',
      SEGSERVE_MAX_BATCH_ITEMS: '7',
    };
    for (const name of ['PORT', 'HOST', 'SEGSERVE_MAX_IMAGE_BYTES', 'SEGSERVE_CONFIG', 'SEGSERVE_DATA_DIR'])
      delete env[name];
    const served = startLogged(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'serve'].concat([
        '--config',
        path,
        '--models',
        models,
        '--max-json-bytes',
        '2KiB',
      ]),
      { cwd: PROJECT_ROOT, env },
    );
    try {
      const settings = await served.logged((line) => line.msg === 'settings', 60_000);
      expect(settings.limits).toMatchObject({
        jsonBodyBytes: 2 * 1024,
        batchItems: 7,
        imageBodyBytes: 5 * 1024 * 1024,
        v2BodyBytes: 32 * 1024 * 1024,
      });
      expect(settings.config_file).toBe(
        `${path}: PORT, HOST, SEGSERVE_DATA_DIR, SEGSERVE_MAX_IMAGE_BYTES, SEGSERVE_WATCH`,
      );
      expect(settings.watch).toBe('off');
      const live = await fetch(`http://127.0.0.1:${port}/v2/health/live`);
      expect(live.status).toBe(200);
    } finally {
      served.child.kill('SIGTERM');
      await served.exited;
      await rm(models, { recursive: true, force: true });
    }
  }, 90_000);
});
