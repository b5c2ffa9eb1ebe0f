/**
 * `segserve models push <file.onnx> --model <name>`: uploads a version to a running server through the admin API
 * (`POST /v1/admin/models/{m}/versions`), streaming the file with a progress bar, and prints what the server
 * validated. The admin key comes from SEGSERVE_ADMIN_KEY (never a flag: flags end up in shell history and `ps`).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ERROR_CATALOGUE, type ErrorCode, type ErrorDetails, SegserveError } from '../errors.js';
import type { UploadOutcome } from '../lifecycle/upload.js';
import { createProgress } from './progress.js';

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

function textPart(boundary: string, name: string, value: string | Uint8Array, filename?: string): Buffer {
  const disposition = `form-data; name="${name}"${filename ? `; filename="${filename.replace(/["\r\n]/g, '_')}"` : ''}`;
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n`),
    Buffer.from(value),
    Buffer.from('\r\n'),
  ]);
}

/** The server's error answer as the error it names, so the CLI prints it as its own. */
function answeredError(status: number, body: string): Error {
  try {
    const { error } = JSON.parse(body) as {
      error?: { code?: string; message?: string; details?: ErrorDetails };
    };
    if (error?.code && Object.hasOwn(ERROR_CATALOGUE, error.code)) {
      return new SegserveError(error.code as ErrorCode, error.details ?? {});
    }
  } catch {
    // Not our error format (a proxy's page): reported below with the status.
  }
  return new Error(`the server answered ${status}: ${body.slice(0, 300)}`);
}

export async function pushVersion(options: PushOptions): Promise<UploadOutcome> {
  const key = options.key ?? process.env[ADMIN_KEY_ENV];
  if (!key) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `pushing needs an admin key of the server in the environment variable ${ADMIN_KEY_ENV}`,
    });
  }
  const size = (await stat(options.file)).size;
  const boundary = `segserve-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const head: Buffer[] = [];
  if (options.version !== undefined) head.push(textPart(boundary, 'version', String(options.version)));
  if (options.config) head.push(textPart(boundary, 'config', await readFile(options.config), 'config.yaml'));
  if (options.labels) head.push(textPart(boundary, 'labels', await readFile(options.labels), 'labels.txt'));
  head.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="${basename(options.file).replace(/["\r\n]/g, '_')}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const length = head.reduce((n, b) => n + b.length, 0) + size + tail.length;

  // Percent steps: the bar counts ticks, and a model file arrives in thousands of chunks.
  const progress = createProgress(100, `push ${basename(options.file)}`, options.progress);
  let sent = 0;
  let shown = 0;
  async function* body(): AsyncGenerator<Uint8Array> {
    yield* head;
    for await (const chunk of createReadStream(options.file)) {
      sent += (chunk as Buffer).length;
      const percent = Math.floor((sent / size) * 100);
      while (shown < percent) {
        shown++;
        progress.tick(shown === 100 ? 'validating on the server' : '');
      }
      yield chunk as Buffer;
    }
    yield tail;
  }
  let response: Response;
  try {
    response = await fetch(
      `${options.server.replace(/\/+$/, '')}/v1/admin/models/${encodeURIComponent(options.model)}/versions`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(length),
        },
        body: ReadableStream.from(body()),
        duplex: 'half',
      } as RequestInit & { duplex: 'half' },
    );
  } finally {
    progress.stop();
  }
  const text = await response.text();
  if (response.status !== 201) throw answeredError(response.status, text);
  return JSON.parse(text) as UploadOutcome;
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
