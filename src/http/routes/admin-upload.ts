/**
 * `POST /v1/admin/models/{model}/versions`: a new version (or a new model) uploaded as multipart/form-data, the
 * admin key required. Parts: `model` (the ONNX file), and for a new model `config` (its config.yaml) and
 * optionally `labels` (labels.txt), as files or text fields; an optional `version` field picks the number.
 * The file is streamed to a staging folder as it arrives, never held in memory, and capped at
 * `--max-model-upload-bytes`; validation and publishing are the lifecycle's (lifecycle/upload.ts).
 */
import { createWriteStream } from 'node:fs';
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsync } from 'fastify';
import { SegserveError } from '../../errors.js';
import type { StagedUpload, UploadOutcome, UploadRequest } from '../../lifecycle/upload.js';
import { type AdminKeys, adminActorOf, decorateAdminActor, requireAdmin } from '../admin-auth.js';
import type { HttpLimits } from '../options.js';
import { errorResponses } from '../schemas.js';

export interface ModelUploads {
  /** A new, empty staging folder for one upload. */
  stage(): Promise<string>;
  publish(request: UploadRequest): Promise<UploadOutcome>;
}

export interface AdminUploadRouteOptions {
  uploads: ModelUploads;
  limits: HttpLimits;
  adminKeys?: AdminKeys;
}

/** config.yaml and labels.txt are text a person wrote: far below this. */
const TEXT_PART_BYTES = 1024 * 1024;
const FILE_PARTS = { model: 'onnx', config: 'config', labels: 'labels' } as const;
type FilePart = keyof typeof FILE_PARTS;

function isFilePart(name: string): name is FilePart {
  return Object.hasOwn(FILE_PARTS, name);
}

function parseVersionField(value: unknown): number {
  const text = String(value);
  if (!/^[1-9][0-9]{0,8}$/.test(text)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `"version" must be a positive integer, not "${text.slice(0, 40)}"`,
      field: 'version',
    });
  }
  return Number(text);
}

export const adminUploadRoutes: FastifyPluginAsync<AdminUploadRouteOptions> = async (app, options) => {
  const { uploads, limits } = options;
  decorateAdminActor(app);
  await app.register(multipart, {
    limits: { fileSize: limits.modelUploadBytes, files: 3, fields: 4, fieldSize: TEXT_PART_BYTES, parts: 7 },
  });

  app.post<{ Params: { model: string } }>(
    '/v1/admin/models/:model/versions',
    {
      onRequest: requireAdmin(options.adminKeys),
      schema: {
        tags: ['lifecycle'],
        summary:
          'Upload a model version (or a new model): visible only once it loads, warms up and its outputs decode',
        security: [{ adminKey: [] }],
        params: {
          type: 'object',
          required: ['model'],
          properties: { model: { type: 'string', maxLength: 128 } },
        },
        consumes: ['multipart/form-data'],
        response: errorResponses,
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new SegserveError('UNSUPPORTED_MEDIA_TYPE', {
          content_type: request.headers['content-type'] ?? '(none)',
          reason: 'send multipart/form-data with the ONNX file in the part "model"',
        });
      }
      const dir = await uploads.stage();
      let staged: StagedUpload;
      let version: number | undefined;
      try {
        const files: Partial<Record<'onnx' | 'config' | 'labels', string>> = {};
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (part.fieldname === 'version') {
              version = parseVersionField(part.value);
            } else if (part.fieldname === 'config' || part.fieldname === 'labels') {
              const path = join(dir, part.fieldname);
              await writeFile(path, String(part.value));
              files[FILE_PARTS[part.fieldname]] = path;
            } else {
              throw new SegserveError('INVALID_ARGUMENT', {
                reason: `unknown field "${part.fieldname.slice(0, 40)}": expected model, config, labels or version`,
              });
            }
            continue;
          }
          if (!isFilePart(part.fieldname)) {
            part.file.resume();
            throw new SegserveError('INVALID_ARGUMENT', {
              reason: `unknown file part "${part.fieldname.slice(0, 40)}": expected model, config or labels`,
            });
          }
          const path = join(dir, part.fieldname);
          await pipeline(part.file, createWriteStream(path));
          if (part.file.truncated) {
            throw new SegserveError('INPUT_TOO_LARGE', {
              source: 'model file',
              limit: limits.modelUploadBytes,
            });
          }
          if (part.fieldname !== 'model' && (await stat(path)).size > TEXT_PART_BYTES) {
            throw new SegserveError('INPUT_TOO_LARGE', {
              source: `${part.fieldname} file`,
              limit: TEXT_PART_BYTES,
            });
          }
          files[FILE_PARTS[part.fieldname]] = path;
        }
        if (!files.onnx) {
          throw new SegserveError('INVALID_ARGUMENT', {
            reason: 'the upload has no "model" part (the ONNX file)',
          });
        }
        staged = { dir, onnx: files.onnx, config: files.config, labels: files.labels };
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
      const outcome = await uploads.publish({
        model: request.params.model,
        version,
        staged,
        actor: adminActorOf(request),
      });
      return reply.code(201).send(outcome);
    },
  );
};
