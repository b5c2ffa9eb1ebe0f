/**
 * deploy/k8s and deploy/cloudrun, rendered as a cluster would receive them (`kubectl kustomize`, from Debian's
 * kubernetes-client or any kubectl; KUBECTL names another binary):
 *
 * - every object is valid against its schema in deploy/schemas (strict: an unknown field is an error);
 * - every probe and every ServiceMonitor endpoint points at a port the container declares and a path the
 *   command it runs (`serve` or `worker`) really answers, asked of a running `segserve serve`;
 * - every environment variable the manifests give a container (env, and the keys of the ConfigMaps it loads)
 *   is one segserve reads, from the settings registry;
 * - the references between objects hold: Services select pods and target their ports, the Ingress, the HPA,
 *   the ScaledObject and the PodDisruptionBudgets name or select what exists.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { settingEnvNames } from '../../src/cli/config/registry.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { DEFAULT_PORTS, serveStatuses, workerRoutes } from './routes.js';
import { errorsOf, kubernetesValidators } from './schemas.js';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const K8S = join(PROJECT_ROOT, 'deploy', 'k8s');
const RENDERED = ['base', 'overlays/dev', 'overlays/prod', 'trainer'];

// A loose shape: the schemas check the structure; these types only name what the cross-checks read.
interface Port {
  name?: string;
  containerPort?: number;
}
interface Probe {
  httpGet?: { path?: string; port?: string | number };
}
interface Container {
  name?: string;
  args?: string[];
  ports?: Port[];
  env?: { name: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function render(dir: string): K8sObject[] {
  const text = execFileSync(KUBECTL, ['kustomize', join(K8S, dir)], { encoding: 'utf8', stdio: 'pipe' });
  return parseAllDocuments(text).map((document) => document.toJSON() as K8sObject);
}

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');

function readYaml(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(join(PROJECT_ROOT, path), 'utf8')).map(
    (document) => document.toJSON() as K8sObject,
  );
}

interface PodTemplate {
  labels: Record<string, string>;
  containers: Container[];
}

/** The pod template of a workload: Deployment and Job (spec.template), Knative Service (spec.template). */
function podOf(object: K8sObject): PodTemplate | undefined {
  const template = object.spec?.template as
    | { metadata?: { labels?: Record<string, string> }; spec?: { containers?: Container[] } }
    | undefined;
  if (!template?.spec?.containers) return undefined;
  return { labels: template.metadata?.labels ?? {}, containers: template.spec.containers };
}

const commandOf = (container: Container): 'serve' | 'worker' | 'train' => {
  const [command] = container.args ?? ['serve'];
  if (command !== 'serve' && command !== 'worker' && command !== 'train') {
    throw new Error(`container ${container.name} runs "${command}"`);
  }
  return command;
};

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

/** Every (object, container, probe) of a set of objects, with the port resolved to a number. */
function probesOf(objects: K8sObject[]) {
  const found: { where: string; command: string; path: string; port: number }[] = [];
  for (const object of objects) {
    for (const container of podOf(object)?.containers ?? []) {
      for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        const get = container[kind]?.httpGet;
        if (!get) continue;
        const port =
          typeof get.port === 'number'
            ? get.port
            : container.ports?.find((p) => p.name === get.port)?.containerPort;
        found.push({
          where: `${object.kind}/${object.metadata.name} ${container.name ?? ''} ${kind}`,
          command: commandOf(container),
          path: get.path ?? '/',
          port: port ?? -1,
        });
      }
    }
  }
  return found;
}

const rendered = new Map<string, K8sObject[]>();
const knative = readYaml('deploy/cloudrun/service.yaml');

beforeAll(() => {
  for (const dir of RENDERED) rendered.set(dir, render(dir));
});

describe('kubectl kustomize', () => {
  it('renders the base, both overlays and the trainer Job', () => {
    expect(
      rendered
        .get('base')
        ?.map((object) => object.kind)
        .sort(),
    ).toEqual(
      [
        'ConfigMap',
        'Deployment',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Ingress',
        'PodDisruptionBudget',
        'PodDisruptionBudget',
        'ScaledObject',
        'Service',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ].sort(),
    );
    for (const overlay of ['overlays/dev', 'overlays/prod']) {
      const objects = rendered.get(overlay) ?? [];
      expect(objects.filter((object) => object.kind === 'Namespace')).toHaveLength(1);
      const images = objects
        .flatMap((object) => podOf(object)?.containers ?? [])
        .map((c) => (c as { image?: string }).image);
      expect(new Set(images).size, `${overlay}: one image for API and workers`).toBe(1);
    }
    expect(rendered.get('trainer')?.map((object) => object.kind)).toEqual(['Job']);
  });
});

describe('schemas', () => {
  const validators = kubernetesValidators();
  it.each(RENDERED)('%s: every object is valid against its schema', (dir) => {
    const problems: string[] = [];
    for (const object of rendered.get(dir) ?? []) {
      const validate = validators.of(object.apiVersion, object.kind);
      if (!validate) problems.push(`${object.apiVersion} ${object.kind}: no schema`);
      else
        problems.push(...errorsOf(validate, object).map((e) => `${object.kind}/${object.metadata.name}${e}`));
    }
    expect(problems).toEqual([]);
  });

  it('deploy/cloudrun/service.yaml is a valid Knative Service', () => {
    const [service] = knative;
    const validate = validators.of(service.apiVersion, service.kind);
    expect(validate).toBeDefined();
    if (validate) expect(errorsOf(validate, service)).toEqual([]);
  });

  it('the schemas refuse an unknown field, a wrong type and a missing required field', () => {
    const deployment = structuredClone(
      (rendered.get('base') ?? []).find((object) => object.kind === 'Deployment'),
    ) as K8sObject;
    const validate = validators.of('apps/v1', 'Deployment');
    if (!validate) throw new Error('no Deployment schema');
    const pod = podOf(deployment) as PodTemplate;
    (pod.containers[0] as Record<string, unknown>).imagePullPolicyy = 'Always';
    (pod.containers[0].ports as Port[])[0].containerPort = 'http' as unknown as number;
    delete (deployment.spec as Record<string, unknown>).selector;
    const errors = errorsOf(validate, deployment).join('\n');
    expect(errors).toMatch(/additionalProperty":"imagePullPolicyy"/);
    expect(errors).toMatch(/containerPort must be number/);
    expect(errors).toMatch(/missingProperty":"selector"/);
    const scaledObject = validators.of('keda.sh/v1alpha1', 'ScaledObject');
    if (!scaledObject) throw new Error('no ScaledObject schema');
    expect(
      errorsOf(scaledObject, {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'x' },
        spec: {
          scaleTargetRef: { name: 'x' },
          triggers: [{ type: 'redis', metadata: { address: 'r:6379' } }],
        },
      }).join('\n'),
    ).toMatch(/missingProperty":"listName"/);
  });
});

describe('probes, scrapes and ports', () => {
  let statuses: Map<string, number>;
  const all = () => [...rendered.values()].flat().concat(knative);

  beforeAll(async () => {
    const paths = new Set<string>(['/metrics']);
    for (const probe of probesOf(all())) if (probe.command === 'serve') paths.add(probe.path);
    statuses = await serveStatuses(paths);
  }, 120_000);

  it('every probe of a serve container is a route segserve serve answers with 200, on its port', () => {
    const probes = probesOf(all()).filter((probe) => probe.command === 'serve');
    expect(probes.length).toBeGreaterThanOrEqual(8);
    for (const probe of probes) {
      expect(statuses.get(probe.path), probe.where).toBe(200);
      expect(probe.port, probe.where).toBe(DEFAULT_PORTS.serve);
    }
    // The probes of the real liveness and readiness routes, not the model-state /health.
    expect(new Set(probes.map((probe) => probe.path))).toEqual(
      new Set(['/v2/health/live', '/v2/health/ready']),
    );
  });

  it('every probe of a worker container is a route of segserve worker, on its port', () => {
    const routes = workerRoutes();
    expect(routes).toEqual(new Set(['/healthz', '/readyz', '/metrics']));
    const probes = probesOf(all()).filter((probe) => probe.command === 'worker');
    // startup, liveness and readiness, in the base and both overlays.
    expect(probes.length).toBe(9);
    for (const probe of probes) {
      expect(routes, probe.where).toContain(probe.path);
      expect(probe.port, probe.where).toBe(DEFAULT_PORTS.worker);
    }
  });

  it.each(RENDERED.slice(0, 3))(
    '%s: Services, Ingress, ServiceMonitor, HPA, ScaledObject and PDBs point at what exists',
    (dir) => {
      const objects = rendered.get(dir) ?? [];
      const pods = objects.flatMap((object) => {
        const pod = podOf(object);
        return pod && object.kind === 'Deployment' ? [{ name: object.metadata.name, ...pod }] : [];
      });
      const named = (kind: string, name: string) =>
        objects.some((object) => object.kind === kind && object.metadata.name === name);
      const services = objects.filter((object) => object.kind === 'Service');
      for (const service of services) {
        const spec = service.spec as {
          selector: Record<string, string>;
          ports: { name: string; targetPort: string }[];
        };
        const selected = pods.filter((pod) => matches(spec.selector, pod.labels));
        expect(selected, `Service ${service.metadata.name} selects one Deployment`).toHaveLength(1);
        for (const port of spec.ports) {
          const declared = selected[0].containers.flatMap((c) => c.ports ?? []).map((p) => p.name);
          expect(declared, `Service ${service.metadata.name} targets ${port.targetPort}`).toContain(
            port.targetPort,
          );
        }
      }
      for (const monitor of objects.filter((object) => object.kind === 'ServiceMonitor')) {
        const spec = monitor.spec as {
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string; path: string }[];
        };
        const selected = services.filter((service) =>
          matches(spec.selector.matchLabels, service.metadata.labels ?? {}),
        );
        for (const endpoint of spec.endpoints) {
          const serving = selected.filter((service) =>
            (service.spec as { ports: { name: string }[] }).ports.some((port) => port.name === endpoint.port),
          );
          expect(serving.length, `ServiceMonitor port ${endpoint.port}`).toBe(1);
          const component = serving[0].metadata.labels?.['app.kubernetes.io/component'];
          if (component === 'worker') expect(workerRoutes()).toContain(endpoint.path);
          else expect(statuses.get(endpoint.path), endpoint.path).toBe(200);
        }
      }
      for (const ingress of objects.filter((object) => object.kind === 'Ingress')) {
        const rules = (
          ingress.spec as {
            rules: {
              http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] };
            }[];
          }
        ).rules;
        for (const path of rules.flatMap((rule) => rule.http.paths)) {
          const service = services.find((s) => s.metadata.name === path.backend.service.name);
          expect(service, `Ingress backend ${path.backend.service.name}`).toBeDefined();
          const ports = ((service?.spec ?? { ports: [] }) as { ports: { name: string }[] }).ports.map(
            (port) => port.name,
          );
          expect(ports).toContain(path.backend.service.port.name);
        }
      }
      for (const scaler of objects.filter(
        (object) => object.kind === 'HorizontalPodAutoscaler' || object.kind === 'ScaledObject',
      )) {
        const target = (scaler.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name;
        expect(named('Deployment', target), `${scaler.kind} targets ${target}`).toBe(true);
      }
      for (const budget of objects.filter((object) => object.kind === 'PodDisruptionBudget')) {
        const selector = (budget.spec as { selector: { matchLabels: Record<string, string> } }).selector
          .matchLabels;
        expect(
          pods.filter((pod) => matches(selector, pod.labels)),
          `PDB ${budget.metadata.name}`,
        ).toHaveLength(1);
      }
    },
  );
});

describe("the workers' autoscaling", () => {
  it.each(RENDERED.slice(0, 3))(
    '%s: KEDA watches the Redis and the BullMQ list the workers consume',
    (dir) => {
      const objects = rendered.get(dir) ?? [];
      const config = objects.find((object) => object.kind === 'ConfigMap')?.data ?? {};
      const redis = new URL(config.SEGSERVE_REDIS_URL);
      // The queue's name, as the jobs host opens it; BullMQ keeps its waiting messages in <prefix>:<queue>:wait.
      const queue = /openQueue<JobMessage>\('([^']+)'/.exec(read('src/host/jobs.ts'))?.[1];
      const prefix = config.SEGSERVE_REDIS_PREFIX ?? 'segserve';
      const scaler = objects.find((object) => object.kind === 'ScaledObject');
      if (!scaler) throw new Error(`${dir}: no ScaledObject`);
      const [trigger] = (scaler.spec as { triggers: { type: string; metadata: Record<string, string> }[] })
        .triggers;
      expect(trigger.type).toBe('redis');
      expect(trigger.metadata.address).toBe(`${redis.hostname}:${redis.port || 6379}`);
      expect(trigger.metadata.listName).toBe(`${prefix}:${queue}:wait`);
    },
  );
});

describe('environment', () => {
  it('every variable the manifests set is one segserve reads, and every ConfigMap a pod loads exists', () => {
    const known = settingEnvNames();
    for (const [dir, objects] of [...rendered, ['deploy/cloudrun', knative] as const]) {
      const configMaps = new Map(
        objects
          .filter((object) => object.kind === 'ConfigMap')
          .map((object) => [object.metadata.name, object]),
      );
      for (const object of objects) {
        for (const container of podOf(object)?.containers ?? []) {
          const names = (container.env ?? []).map((variable) => variable.name);
          for (const source of container.envFrom ?? []) {
            if (!source.configMapRef) continue;
            const configMap = configMaps.get(source.configMapRef.name);
            // The trainer is applied beside a deployment, whose ConfigMap it loads.
            if (dir === 'trainer') continue;
            expect(configMap, `${dir}: ConfigMap ${source.configMapRef.name}`).toBeDefined();
            names.push(...Object.keys(configMap?.data ?? {}));
          }
          for (const name of names)
            expect(known, `${dir} ${object.kind}/${object.metadata.name}: ${name}`).toContain(name);
        }
      }
    }
  });
});
