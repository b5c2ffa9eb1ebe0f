/**
 * The browser UI keeps no copy of the wire format: every answer type it reads (segmentation, COCO results, the
 * model list, load states and error summaries) is imported from src/serving/types.ts, the monitor page's data
 * from src/monitoring/monitor-types.ts, the shadow page's from src/monitoring/shadow/wire-types.ts, the
 * annotation queue's from src/learning/annotations/types.ts and the training runs' from
 * src/learning/training/wire-types.ts, which the server's routes are typed with. A local
 * declaration of one of them would drift from the server unnoticed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/paths.js';

const WEB = join(PROJECT_ROOT, 'web', 'src');
const SERVER_TYPES = [
  join(PROJECT_ROOT, 'src', 'serving', 'types.ts'),
  join(PROJECT_ROOT, 'src', 'monitoring', 'monitor-types.ts'),
  join(PROJECT_ROOT, 'src', 'learning', 'wire-types.ts'),
  join(PROJECT_ROOT, 'src', 'learning', 'training', 'wire-types.ts'),
  join(PROJECT_ROOT, 'src', 'learning', 'annotations', 'types.ts'),
  join(PROJECT_ROOT, 'src', 'monitoring', 'shadow', 'wire-types.ts'),
];

function webSources(): Array<[string, string]> {
  return readdirSync(WEB)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => [f, readFileSync(join(WEB, f), 'utf8')]);
}

/** Names exported by the wire-type modules: declared there or re-exported. */
function serverTypeNames(): string[] {
  const text = SERVER_TYPES.map((file) => readFileSync(file, 'utf8')).join('\n');
  const declared = [...text.matchAll(/export (?:interface|type|const) (\w+)/g)].map((m) => m[1]);
  const reexported = [...text.matchAll(/export type \{([^}]+)\}/g)].flatMap((m) =>
    m[1].split(',').map((n) => n.trim()),
  );
  return [...declared, ...reexported];
}

describe('web UI wire types', () => {
  it('the server declares the model list types the UI reads', () => {
    expect(serverTypeNames()).toEqual(
      expect.arrayContaining([
        'ModelJson',
        'ModelListJson',
        'LoadState',
        'ErrorSummary',
        'SegmentationJson',
        'MonitorJson',
        'MonitorVersion',
        'AnnotationItemJson',
        'LabelBodyJson',
        'ShadowListJson',
        'EndpointShadowsJson',
        'ShadowVariantJson',
        'ShadowComparisonJson',
        'TrainingRunJson',
        'TrainingRunListJson',
      ]),
    );
  });

  it('no web module declares a type of its own for an answer (no web/src/types.ts copy)', () => {
    const server = new Set(serverTypeNames());
    for (const [file, text] of webSources()) {
      // Declarations only (`interface X`, `type X =`), not `type X` inside an import's braces.
      const declared = [
        ...text.matchAll(/^(?:export )?(?:interface (\w+)|type (\w+)\s*(?:<[^>]*>)?\s*=)/gm),
      ].map((m) => m[1] ?? m[2]);
      for (const name of declared) {
        expect(server.has(name), `${file} declares ${name}`).toBe(false);
        expect(name, `${file} declares ${name}, a model list type`).not.toMatch(/^Model(Info|List|Input)/);
      }
    }
    expect(webSources().map(([f]) => f)).not.toContain('types.ts');
  });

  it('the modules that read the model list import its type from src/serving/types.ts', () => {
    const sources = new Map(webSources());
    for (const file of ['api.ts', 'model-store.ts', 'model-picker.ts', 'models-page.ts']) {
      expect(sources.get(file), file).toMatch(
        /import type \{[^}]*\bModelListJson\b[^}]*\} from '\.\.\/\.\.\/src\/serving\/types\.js'/,
      );
    }
  });

  it('the models page reads training runs with the type the route answers', () => {
    const sources = new Map(webSources());
    for (const file of ['api.ts', 'models-page.ts', 'training-runs.ts', 'learning-curves.ts']) {
      expect(sources.get(file), file).toMatch(
        /import type \{[^}]*\bTrainingRun(List)?Json\b[^}]*\} from '\.\.\/\.\.\/src\/learning\/training\/wire-types\.js'/,
      );
    }
  });

  it('the monitor page reads its data with the type the route answers', () => {
    const sources = new Map(webSources());
    for (const file of ['api.ts', 'monitor-page.ts']) {
      expect(sources.get(file), file).toMatch(
        /import type \{[^}]*\bMonitorJson\b[^}]*\} from '\.\.\/\.\.\/src\/monitoring\/monitor-types\.js'/,
      );
    }
  });
});
