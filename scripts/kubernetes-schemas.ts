/**
 * Writes deploy/schemas/kubernetes/kubernetes-<version>.json: strict JSON Schemas of the Kubernetes kinds the
 * manifests of deploy/ use, from the `kubernetes-types` npm package (TypeScript declarations generated from the
 * Kubernetes OpenAPI specification of that version). "Strict" as kubectl's client-side validation: every
 * object refuses fields the API does not define, required fields are required, `apiVersion` and `kind` are
 * those of the kind.
 *
 * Usage (the package is not a dependency of segserve; unpack it anywhere):
 *   npm pack kubernetes-types@1.30.0 && tar xzf kubernetes-types-1.30.0.tgz
 *   npx tsx scripts/kubernetes-schemas.ts ./package
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** The kinds deploy/ uses, by the declaration file of their group and version. */
const KINDS: ReadonlyArray<[file: string, kind: string]> = [
  ['core/v1', 'ConfigMap'],
  ['core/v1', 'Namespace'],
  ['core/v1', 'PersistentVolumeClaim'],
  ['core/v1', 'Secret'],
  ['core/v1', 'Service'],
  ['core/v1', 'ServiceAccount'],
  ['apps/v1', 'Deployment'],
  ['batch/v1', 'Job'],
  ['networking/v1', 'Ingress'],
  ['autoscaling/v2', 'HorizontalPodAutoscaler'],
  ['policy/v1', 'PodDisruptionBudget'],
];

type Schema = Record<string, unknown>;

const packageDir = process.argv[2];
if (!packageDir) {
  process.stderr.write('usage: tsx scripts/kubernetes-schemas.ts <unpacked kubernetes-types folder>\n');
  process.exit(2);
}
const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string })
  .version;
const roots = [...new Set(KINDS.map(([file]) => join(packageDir, `${file}.d.ts`)))];
const program = ts.createProgram(roots, { strict: true, noEmit: true, types: [] });
const checker = program.getTypeChecker();
const definitions: Record<string, Schema> = {};

/** `apps.v1.Deployment` for the interface Deployment of apps/v1.d.ts. */
function definitionName(declaration: ts.Declaration, name: string): string {
  const file = relative(packageDir, declaration.getSourceFile().fileName).replace(/\.d\.ts$/, '');
  return `${file.replaceAll('/', '.')}.${name}`;
}

function isNamedInterface(type: ts.Type): ts.InterfaceDeclaration | undefined {
  const declaration = type.getSymbol()?.declarations?.[0];
  return declaration && ts.isInterfaceDeclaration(declaration) ? declaration : undefined;
}

/**
 * Quantity is declared as a string, but the API takes numbers too (`cpu: 1`). TypeScript keeps no alias on a
 * primitive type, so it is recognised by the declaration's own text.
 */
const QUANTITY: Schema = { anyOf: [{ type: 'string' }, { type: 'number' }] };
const declaredQuantity = (node: ts.TypeNode | undefined) => node?.getText() === 'Quantity';

function convert(type: ts.Type): Schema {
  if (type.isStringLiteral()) return { type: 'string', enum: [type.value] };
  if (type.flags & ts.TypeFlags.String) return { type: 'string' };
  if (type.flags & ts.TypeFlags.Number) return { type: 'number' };
  if (type.flags & ts.TypeFlags.BooleanLike) return { type: 'boolean' };
  if (type.isUnion()) {
    const members = type.types.filter((member) => !(member.flags & ts.TypeFlags.Undefined));
    // `true | false` is how TypeScript holds boolean.
    if (members.every((member) => member.flags & ts.TypeFlags.BooleanLiteral)) return { type: 'boolean' };
    if (members.length === 1) return convert(members[0]);
    return { anyOf: members.map(convert) };
  }
  if (checker.isArrayType(type)) {
    const [item] = checker.getTypeArguments(type as ts.TypeReference);
    return { type: 'array', items: convert(item) };
  }
  const declaration = isNamedInterface(type);
  if (declaration) {
    const name = definitionName(declaration, declaration.name.text);
    if (!(name in definitions)) {
      definitions[name] = {};
      definitions[name] = objectSchema(type);
    }
    return { $ref: `#/definitions/${name}` };
  }
  return objectSchema(type);
}

function objectSchema(type: ts.Type): Schema {
  const index = type.getStringIndexType();
  const properties = type.getProperties();
  if (index && properties.length === 0) {
    const [info] = checker.getIndexInfosOfType(type);
    return { type: 'object', additionalProperties: declaredQuantity(info?.declaration?.type) ? QUANTITY : convert(index) };
  }
  // RawExtension, JSON and the like: any value.
  if (properties.length === 0) return {};
  const schema: Schema = { type: 'object', additionalProperties: false };
  const props: Record<string, Schema> = {};
  const required: string[] = [];
  for (const property of properties) {
    const declaration = property.valueDeclaration ?? property.declarations?.[0];
    if (!declaration) continue;
    const node = ts.isPropertySignature(declaration) ? declaration.type : undefined;
    props[property.name] = declaredQuantity(node)
      ? QUANTITY
      : convert(checker.getTypeOfSymbolAtLocation(property, declaration));
    if (!(property.flags & ts.SymbolFlags.Optional)) required.push(property.name);
  }
  schema.properties = props;
  if (required.length > 0) schema.required = required.sort();
  return schema;
}

for (const [file, kind] of KINDS) {
  const source = program.getSourceFile(join(packageDir, `${file}.d.ts`));
  const declaration = source?.statements.find(
    (statement): statement is ts.InterfaceDeclaration =>
      ts.isInterfaceDeclaration(statement) && statement.name.text === kind,
  );
  if (!declaration) throw new Error(`${kind} is not declared in ${file}.d.ts`);
  const schema = convert(checker.getTypeAtLocation(declaration));
  // The manifests must name both: the API needs them, and the schemas are chosen by them.
  const definition = definitions[definitionName(declaration, kind)];
  definition.required = [...new Set([...((definition.required as string[]) ?? []), 'apiVersion', 'kind'])].sort();
  if (!schema.$ref) throw new Error(`${kind} did not convert to a definition`);
}

const out = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $comment:
    `Generated by scripts/kubernetes-schemas.ts from kubernetes-types@${version} (the Kubernetes ${version} ` +
    'OpenAPI types); descriptions left out. See deploy/schemas/README.md.',
  definitions: Object.fromEntries(Object.entries(definitions).sort(([a], [b]) => a.localeCompare(b))),
};
const target = new URL(`../deploy/schemas/kubernetes/kubernetes-${version}.json`, import.meta.url);
writeFileSync(target, `${JSON.stringify(out, null, 1)}\n`);
process.stdout.write(`${Object.keys(definitions).length} definitions written to ${target.pathname}\n`);
