/**
 * The layers of ../shared/DESIGN.md, read from the imports: a module may import from its own layer and the
 * ones below, never from a layer above. A failure names the file, the import and both layers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/paths.js';

/** Lowest first. A top-level folder of src/ (or a file directly in src/) belongs to exactly one layer. */
const LAYERS: ReadonlyArray<{ name: string; members: string[] }> = [
  { name: 'catalogue', members: ['errors.ts'] },
  {
    name: 'pure functions, ports and input sources',
    members: ['image', 'masks', 'eval', 'storage', 'sources'],
  },
  { name: 'core', members: ['models', 'runtime', 'tasks'] },
  { name: 'serving', members: ['serving'] },
  { name: 'features', members: ['monitoring', 'learning', 'lifecycle', 'jobs'] },
  { name: 'adapters', members: ['cli', 'http', 'worker', 'host'] },
];

const src = join(PROJECT_ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function layerOf(file: string): number {
  const top = relative(src, file).split('/')[0];
  const index = LAYERS.findIndex((layer) => layer.members.includes(top));
  if (index < 0) throw new Error(`${relative(PROJECT_ROOT, file)} is in no layer: add "${top}" to LAYERS`);
  return index;
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function relativeImports(code: string): string[] {
  const found: string[] = [];
  for (const match of code.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.[^'"]+)['"]/g)) {
    found.push(match[1]);
  }
  return found;
}

describe('layering of src/', () => {
  const files = sources(src);

  it('finds the sources and places each in a layer', () => {
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) expect(layerOf(file)).toBeGreaterThanOrEqual(0);
  });

  it('has no import that points up the layers', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const specifier of relativeImports(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
        if (!target.startsWith(`${src}/`)) {
          violations.push(`${relative(PROJECT_ROOT, file)} imports ${specifier}, outside src/`);
          continue;
        }
        const to = layerOf(target);
        if (to > from) {
          violations.push(
            `${relative(PROJECT_ROOT, file)} (${LAYERS[from].name}) imports ${specifier} (${LAYERS[to].name})`,
          );
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('catches an upward import (the check itself works)', () => {
    const imports = relativeImports("import { x } from '../http/app.js';\nconst y = await import('./z.js');");
    expect(imports).toEqual(['../http/app.js', './z.js']);
    expect(layerOf(join(src, 'http/app.ts'))).toBeGreaterThan(layerOf(join(src, 'image/decode.ts')));
  });
});
