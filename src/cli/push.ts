/**
 * `segserve models push <file.onnx> --model <name>`: uploads a version to a running server through the admin API
 * (`POST /v1/admin/models/{m}/versions`), streaming the file with a progress bar, and prints what the server
 * validated. The admin key comes from SEGSERVE_ADMIN_KEY (never a flag: flags end up in shell history and `ps`).
 */
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { SegserveError } from '../errors.js';
import type { UploadOutcome } from '../lifecycle/upload.js';
import { type FormPart, multipartBody } from './multipart.js';
import { createProgress } from './progress.js';
import { ServerClient } from './server-client.js';

export const ADMIN_KEY_ENV = 'SEGSERVE_ADMIN_KEY';

export interface PushOptions {
  file: string;
  model: string;
  server: string;
  config?: string;
  labels?: string;
  version?: number;
  key?: string;
  /** Where the progress bar goes (default stderr). */
  progress?: NodeJS.WriteStream;
}

export async function pushVersion(options: PushOptions): Promise<UploadOutcome> {
  const key = options.key ?? process.env[ADMIN_KEY_ENV];
  if (!key) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `pushing needs an admin key of the server in the environment variable ${ADMIN_KEY_ENV}`,
    });
  }
  const parts: FormPart[] = [];
  if (options.version !== undefined) parts.push({ name: 'version', value: String(options.version) });
  if (options.config)
    parts.push({ name: 'config', value: await readFile(options.config), filename: 'config.yaml' });
  if (options.labels)
    parts.push({ name: 'labels', value: await readFile(options.labels), filename: 'labels.txt' });
  parts.push({
    name: 'model',
    path: options.file,
    size: (await stat(options.file)).size,
    filename: basename(options.file),
    contentType: 'application/octet-stream',
  });
  const form = multipartBody(parts);

  // Percent steps: the bar counts ticks, and a model file arrives in thousands of chunks.
  const progress = createProgress(100, `push ${basename(options.file)}`, options.progress);
  let shown = 0;
  const onProgress = (_part: number, sent: number, size: number) => {
    const percent = Math.floor((sent / size) * 100);
    while (shown < percent) {
      shown++;
      progress.tick(shown === 100 ? 'validating on the server' : '');
    }
  };
  try {
    const client = new ServerClient(options.server, key);
    const { body } = await client.send<UploadOutcome>(
      `/v1/admin/models/${encodeURIComponent(options.model)}/versions`,
      { form, onProgress },
    );
    return body;
  } finally {
    progress.stop();
  }
}

export function formatPushOutcome(outcome: UploadOutcome): string {
  const lines = [
    `${outcome.created ? 'created model' : 'model'} ${outcome.model}: version ${outcome.version} is served`,
    `  file: ${outcome.bytes} bytes, sha256 ${outcome.sha256}`,
    `  validated: loaded in ${Math.round(outcome.validation.loadMs)} ms, warm-up inference ${Math.round(outcome.validation.inferMs)} ms`,
    `  outputs: ${Object.entries(outcome.validation.outputs)
      .map(([name, dims]) => `${name} [${dims.join(', ')}]`)
      .join(', ')}`,
  ];
  if (outcome.keptStableAt !== undefined) {
    lines.push(
      `  stable stays at version ${outcome.keptStableAt}: promote with PUT /v1/admin/models/${outcome.model}/aliases/stable`,
    );
  }
  return lines.join('\n');
}
