/**
 * deploy/compose/compose.yaml: valid against the compose specification's JSON schema (vendored in
 * deploy/schemas) once its variables are interpolated and its YAML merge keys resolved, as `docker compose
 * config` does before it validates; and the checks `docker compose config` makes beyond the schema (no Docker
 * runs here): every service a service depends on exists and can satisfy the condition, named volumes are
 * declared, bind-mounted files and the build context exist, every variable has a default so `docker compose up`
 * needs no .env. Then segserve's own: the variables given to segserve are ones it reads, the health checks ask
 * real routes on the right ports, and the stack's Prometheus configuration passes promtool as mounted.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { settingEnvNames } from '../../src/cli/config/registry.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { parseDockerfile } from './dockerfile.js';
import { DEFAULT_PORTS, workerRoutes } from './routes.js';
import { draft2019, errorsOf } from './schemas.js';

const COMPOSE_DIR = join(PROJECT_ROOT, 'deploy', 'compose');
const COMPOSE_FILE = join(COMPOSE_DIR, 'compose.yaml');
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

interface Service {
  build?: { context: string; dockerfile?: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  ports?: string[];
  restart?: string;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const raw = readFileSync(COMPOSE_FILE, 'utf8');

/** `${NAME:-default}` and `${NAME-default}` as compose interpolates them with no such variable set. */
function interpolate(text: string): string {
  return text.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_whole, _name, fallback) => fallback ?? '');
}

// YAML 1.1 merge keys (`<<: *segserve`) are resolved by compose before validation; so here.
const compose = parse(interpolate(raw), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);
/** The services that run segserve's image. */
const segserve = services.filter(([, service]) => service.build?.context === '../..');

const dependencies = (service: Service): Record<string, { condition: string }> =>
  Array.isArray(service.depends_on)
    ? Object.fromEntries(service.depends_on.map((name) => [name, { condition: 'service_started' }]))
    : (service.depends_on ?? {});

describe('deploy/compose/compose.yaml', () => {
  it('is valid against the compose specification schema', () => {
    expect(errorsOf(draft2019('compose-spec.json'), compose)).toEqual([]);
  });

  it('the schema refuses a misspelt key', () => {
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    broken.services.api.depend_on = ['redis'];
    expect(errorsOf(draft2019('compose-spec.json'), broken).join('\n')).toMatch(/depend_on/);
  });

  it('gives every variable a default, so `docker compose up` needs no .env file', () => {
    const variables = [...raw.matchAll(/\$\{([^}]*)\}/g)].map((match) => match[1]);
    expect(variables.length).toBeGreaterThan(0);
    for (const variable of variables) expect(variable, variable).toMatch(/^[A-Z0-9_]+:-.+$/);
  });

  it('depends only on services that exist and can meet the condition, without a cycle', () => {
    const dockerfileHealthcheck = parseDockerfile(readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8'))
      .at(-1)
      ?.instructions.some((instruction) => instruction.keyword === 'HEALTHCHECK');
    for (const [name, service] of services) {
      for (const [target, { condition }] of Object.entries(dependencies(service))) {
        const other = compose.services[target];
        expect(other, `${name} depends on ${target}`).toBeDefined();
        if (condition === 'service_healthy') {
          const healthy =
            other.healthcheck !== undefined || (other.build !== undefined && dockerfileHealthcheck);
          expect(healthy, `${name} waits for ${target} to be healthy, which has no health check`).toBe(true);
        }
        if (condition === 'service_completed_successfully') {
          expect(other.restart, `${target} must exit for ${name} to start`).toBeUndefined();
        }
      }
    }
    const visiting = new Set<string>();
    const visit = (name: string, path: string[]) => {
      expect(visiting.has(name), `cycle: ${[...path, name].join(' -> ')}`).toBe(false);
      visiting.add(name);
      for (const target of Object.keys(dependencies(compose.services[name]))) visit(target, [...path, name]);
      visiting.delete(name);
    };
    for (const [name] of services) visit(name, []);
  });

  it('declares every named volume, and every bind-mounted path and build context exists', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        if (source.startsWith('.') || source.startsWith('/')) {
          expect(existsSync(resolve(COMPOSE_DIR, source)), `${name}: ${source}`).toBe(true);
        } else {
          expect(declared, `${name}: volume ${source}`).toContain(source);
        }
      }
      if (service.build) {
        const context = resolve(COMPOSE_DIR, service.build.context);
        expect(existsSync(join(context, service.build.dockerfile ?? 'Dockerfile')), name).toBe(true);
      }
    }
    const used = services.flatMap(([, service]) =>
      (service.volumes ?? []).map((volume) => volume.split(':')[0]),
    );
    for (const volume of declared) expect(used, `volume ${volume} is used`).toContain(volume);
  });

  it('runs segserve serve and segserve worker from the one image, with variables segserve reads', () => {
    expect(segserve.map(([, service]) => service.command?.[0]).sort()).toEqual(['serve', 'worker']);
    expect(new Set(segserve.map(([, service]) => service.image)).size).toBe(1);
    const known = settingEnvNames();
    for (const [name, service] of segserve) {
      for (const variable of Object.keys(service.environment ?? {}))
        expect(known, `${name}: ${variable}`).toContain(variable);
    }
  });

  it('publishes the API on its port and checks the worker on a route of its own port', () => {
    const api = segserve.find(([, service]) => service.command?.[0] === 'serve')?.[1];
    const worker = segserve.find(([, service]) => service.command?.[0] === 'worker')?.[1];
    expect(api?.ports).toContain(`${DEFAULT_PORTS.serve}:${DEFAULT_PORTS.serve}`);
    const url = new URL(worker?.healthcheck?.test.at(-1) ?? '');
    expect(Number(url.port)).toBe(DEFAULT_PORTS.worker);
    expect(workerRoutes()).toContain(url.pathname);
  });

  it('points the MinIO bucket notification at the events route with the same token', () => {
    const minio = compose.services.minio.environment ?? {};
    const api = compose.services.api.environment ?? {};
    expect(minio.MINIO_NOTIFY_WEBHOOK_ENDPOINT_SEGSERVE).toBe(`http://api:${DEFAULT_PORTS.serve}/v1/events`);
    expect(minio.MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_SEGSERVE).toBe(api.SEGSERVE_EVENTS_TOKEN);
    const setup = (compose.services['minio-setup'].command ?? []).join(' ');
    expect(setup).toContain('arn:minio:sqs::SEGSERVE:webhook');
    expect(setup).toContain(`--prefix ${new URL(api.SEGSERVE_EVENTS_PREFIX).pathname.slice(1)}`);
  });

  it('mounts a Prometheus configuration that promtool accepts with the shipped rules', (context) => {
    try {
      execFileSync(PROMTOOL, ['--version'], { stdio: 'ignore' });
    } catch {
      context.skip(`SKIPPED: ${PROMTOOL} is not installed (apt-get install prometheus, or set PROMTOOL)`);
    }
    // The container's /etc/prometheus, laid out from the service's bind mounts.
    const root = mkdtempSync(join(tmpdir(), 'segserve-compose-prometheus-'));
    try {
      for (const volume of compose.services.prometheus.volumes ?? []) {
        const [source, target] = volume.split(':');
        if (!target.startsWith('/etc/prometheus')) continue;
        const destination = join(root, target.replace('/etc/prometheus', ''));
        cpSync(resolve(COMPOSE_DIR, source), destination, { recursive: true });
      }
      const output = execFileSync(PROMTOOL, ['check', 'config', join(root, 'prometheus.yml')], {
        encoding: 'utf8',
        cwd: dirname(root),
      });
      const rules = readdirSync(join(PROJECT_ROOT, 'deploy', 'prometheus', 'rules')).filter((name) =>
        name.endsWith('.rules.yml'),
      );
      expect(output).toContain(`SUCCESS: ${rules.length} rule files found`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
