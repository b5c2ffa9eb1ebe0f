/** Builds model folders in a temporary repository for tests. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface FolderSpec {
  config?: string;
  labels?: string;
  /** version -> ONNX bytes (or a writer that builds the model at the path). */
  versions?: Record<number, string | ((path: string) => Promise<unknown>)>;
}

export async function writeModelFolder(dir: string, spec: FolderSpec): Promise<string> {
  await mkdir(dir, { recursive: true });
  if (spec.config !== undefined) await writeFile(join(dir, 'config.yaml'), spec.config);
  if (spec.labels !== undefined) await writeFile(join(dir, 'labels.txt'), spec.labels);
  for (const [version, content] of Object.entries(spec.versions ?? {})) {
    await mkdir(join(dir, version), { recursive: true });
    const path = join(dir, version, 'model.onnx');
    if (typeof content === 'string') await writeFile(path, content);
    else await content(path);
  }
  return dir;
}

export const SEMANTIC_CONFIG = `task: semantic
decoder: softmax
input:
  width: 4
  height: 4
`;
