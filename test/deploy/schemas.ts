/**
 * The schemas vendored in deploy/schemas (see its README for where each comes from), compiled once, and a
 * validation that lists every violation with its path, so a failing test says what to fix.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import addFormatsModule from 'ajv-formats';
import { PROJECT_ROOT } from '../helpers/paths.js';

export const SCHEMAS_DIR = join(PROJECT_ROOT, 'deploy', 'schemas');
export const KUBERNETES_SCHEMA = 'kubernetes-1.30.0.json';

type Schema = Record<string, unknown>;
const read = (path: string): Schema => JSON.parse(readFileSync(join(SCHEMAS_DIR, path), 'utf8')) as Schema;

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2019) => void;

/** Published schemas were not written for ajv's strict mode (unknown keywords such as `id`, union types). */
function published<T extends Ajv | Ajv2019>(ajv: T): T {
  addFormats(ajv);
  return ajv;
}

export function errorsOf(validate: ValidateFunction, value: unknown): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map(
    (error) =>
      `${error.instancePath || '/'} ${error.message ?? error.keyword} ${JSON.stringify(error.params)}`,
  );
}

/** Draft-07 schemas: GitHub workflows, Cloud Build. */
export function draft07(path: string): ValidateFunction {
  return published(new Ajv({ strict: false, allErrors: true })).compile(read(path));
}

/**
 * The compose specification declares draft 2019-09, as `http://json-schema.org/draft/2019-09/schema#`, which is
 * not the id ajv knows that meta-schema by (https, no `#`): the declaration is dropped, the draft is ajv's 2019.
 * Its `id` members are draft-04 leftovers that name nothing its references use; ajv refuses the keyword unless
 * it is declared an annotation, which is what it is in 2019-09.
 */
export function draft2019(path: string): ValidateFunction {
  const { $schema: _declared, ...schema } = read(path);
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.removeKeyword('id');
  ajv.addKeyword('id');
  // Compose's own formats, as compose-go checks them: Go durations (`30s`, `1m30s`), not ISO 8601 ones; a
  // published port (`8080:8080`, `127.0.0.1:9000:9000/tcp`) and an exposed one (`9091`).
  ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat(
    'ports',
    /^(([0-9.]+|\[[0-9a-f:]+\]):)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/,
  );
  ajv.addFormat('expose', /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  return ajv.compile(schema);
}

export interface KubernetesValidators {
  /** The validator of an object's apiVersion and kind, or undefined for a kind no schema covers. */
  of(apiVersion: string, kind: string): ValidateFunction | undefined;
}

/**
 * The built-in kinds from the generated Kubernetes schema (each definition whose apiVersion and kind are
 * fixed), and the custom resources from their hand-written schemas, which refer to the Kubernetes one.
 */
export function kubernetesValidators(): KubernetesValidators {
  const ajv = published(new Ajv({ strict: false, allErrors: true }));
  const kubernetes = read(join('kubernetes', KUBERNETES_SCHEMA));
  ajv.addSchema(kubernetes, KUBERNETES_SCHEMA);
  const byKind = new Map<string, () => ValidateFunction>();
  const definitions = kubernetes.definitions as Record<
    string,
    { properties?: Record<string, { enum?: string[] }> }
  >;
  for (const [name, definition] of Object.entries(definitions)) {
    const apiVersion = definition.properties?.apiVersion?.enum?.[0];
    const kind = definition.properties?.kind?.enum?.[0];
    if (apiVersion && kind && !kind.endsWith('List')) {
      byKind.set(`${apiVersion}/${kind}`, () =>
        ajv.compile({ $ref: `${KUBERNETES_SCHEMA}#/definitions/${name}` }),
      );
    }
  }
  for (const file of ['keda-scaledobject.json', 'servicemonitor.json', 'knative-service.json']) {
    const schema = read(join('crds', file));
    const properties = schema.properties as Record<string, { enum: string[] }>;
    byKind.set(`${properties.apiVersion.enum[0]}/${properties.kind.enum[0]}`, () => ajv.compile(schema));
  }
  const compiled = new Map<string, ValidateFunction>();
  return {
    of(apiVersion, kind) {
      const key = `${apiVersion}/${kind}`;
      const make = byKind.get(key);
      if (!make) return undefined;
      if (!compiled.has(key)) compiled.set(key, make());
      return compiled.get(key);
    },
  };
}
