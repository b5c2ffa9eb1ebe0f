/**
 * `POST /v1/admin/models/{model}/versions/{version}/eval` (admin key required): evaluates a served version on a
 * dataset with the evaluator of `segserve eval --model` (src/lifecycle/evaluation) and answers its report.
 *
 * - `dataset` is a stored dataset version (`dataset:<name>[@<version>][#<split>]`), or a path read inside the
 *   server's evaluation root only (`segserve serve --eval-root`, relative to it; symbolic links out of it are
 *   refused): an admin key lets its holder change what the server serves, not read the server's files. Without
 *   an evaluation root, paths are refused (PATH_FORBIDDEN) and only stored datasets can be evaluated.
 * - The run shares the version's workers with live traffic, a few images at a time (`concurrency`, default the
 *   version's worker count), and publishes nothing as live traffic (no metrics, drift or sampling). A client
 *   that hangs up stops it.
 * - With the stores, the evaluation is recorded with the version (its history, and the figure a later promotion
 *   may compare against); its id is in the `x-evaluation-id` header. A recording that fails is logged, and the
 *   report is answered all the same.
 */
import type { FastifyPluginAsync } from 'fastify';
import {
  type DatasetFiles,
  evaluateModel,
  openDatasetSource,
  recordModelEvaluation,
} from '../../lifecycle/evaluation/index.js';
import { evaluationMetric } from '../../models/index.js';
import type { InferenceService } from '../../serving/service.js';
import type { StorageAccess } from '../../storage/index.js';
import type { AdminKeys } from '../admin-auth.js';
import { adminActorOf, decorateAdminActor, requireAdmin } from '../admin-auth.js';
import { abandonedSignal } from '../context.js';
import { errorResponses } from '../schemas.js';

export interface EvaluationRouteOptions {
  service: InferenceService;
  /** Where `dataset:` sources are stored, and evaluations recorded; without them both are unavailable. */
  stores?: StorageAccess;
  /** The evaluation root's files (DatasetFiles.confined); without one, dataset paths are refused. */
  files?: DatasetFiles;
  adminKeys?: AdminKeys;
  /** Longest wait of one image for a free worker. */
  inferenceTimeoutMs: number;
}

interface EvalBody {
  dataset: string;
  images?: string;
  concurrency?: number;
  iou_types?: Array<'bbox' | 'segm'>;
}

export const evaluationRoutes: FastifyPluginAsync<EvaluationRouteOptions> = async (app, options) => {
  const { service, stores, files } = options;
  decorateAdminActor(app);

  app.post<{ Params: { model: string; version: string }; Body: EvalBody }>(
    '/v1/admin/models/:model/versions/:version/eval',
    {
      onRequest: requireAdmin(options.adminKeys),
      schema: {
        tags: ['lifecycle'],
        summary: 'Evaluate a model version on a dataset (mIoU, Dice, confusion matrix; COCO box and mask AP)',
        description:
          'Runs the version over a stored dataset version or a dataset inside the evaluation root and answers ' +
          "the report of `segserve eval --model`. Classes are matched by name with the model's labels.",
        security: [{ adminKey: [] }],
        params: {
          type: 'object',
          required: ['model', 'version'],
          properties: {
            model: { type: 'string', maxLength: 128 },
            version: {
              type: 'string',
              maxLength: 64,
              description: 'A version number, or an alias such as stable.',
            },
          },
        },
        body: {
          type: 'object',
          required: ['dataset'],
          additionalProperties: false,
          properties: {
            dataset: {
              type: 'string',
              minLength: 1,
              maxLength: 4096,
              description:
                'dataset:<name>[@<version>][#train|#validation], or a path in the evaluation root: a COCO ' +
                'instances JSON (images in images/ beside annotations/), a folder with manifest.csv (mask ' +
                'folder), or a folder with annotations/instances.json.',
            },
            images: {
              type: 'string',
              minLength: 1,
              maxLength: 4096,
              description: "A COCO file's images folder.",
            },
            concurrency: { type: 'integer', minimum: 1, maximum: 64 },
            iou_types: {
              type: 'array',
              minItems: 1,
              uniqueItems: true,
              items: { type: 'string', enum: ['bbox', 'segm'] },
              description: 'Instance models: what to score (default both).',
            },
          },
        },
        response: {
          200: {
            description: 'The evaluation report (format segserve-eval), as `segserve eval --out` writes it.',
            type: 'object',
            additionalProperties: true,
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { model, version } = request.params;
      const { dataset: text, images } = request.body;
      // Known models and versions first, then the dataset (paths only inside the evaluation root).
      const loaded = service.resolve({ model, version });
      const dataset = await openDatasetSource(text, {
        files,
        storage: stores,
        images: images === undefined ? undefined : (files?.resolve(images) ?? images),
      });
      const abandoned = abandonedSignal(reply);
      let evaluation: Awaited<ReturnType<typeof evaluateModel>>;
      try {
        evaluation = await evaluateModel({
          service,
          model: loaded.name,
          version: loaded.version,
          dataset,
          concurrency: request.body.concurrency ?? loaded.config.instances,
          iouTypes: request.body.iou_types,
          signal: abandoned.signal,
          timeoutMs: options.inferenceTimeoutMs,
        });
      } finally {
        abandoned.done();
      }
      const { report, seconds } = evaluation;
      request.log.info(
        {
          model: loaded.name,
          version: loaded.version,
          dataset: report.dataset,
          images: evaluation.images,
          seconds,
        },
        'evaluation done',
      );
      if (stores) {
        try {
          const metric = evaluationMetric(loaded.config.task, loaded.config.evaluation);
          const recorded = await recordModelEvaluation(
            await stores.database(),
            evaluation,
            metric,
            adminActorOf(request),
          );
          if (recorded) reply.header('x-evaluation-id', recorded.id);
        } catch (error) {
          request.log.warn(
            { err: error instanceof Error ? error.message : String(error) },
            'the evaluation could not be recorded',
          );
        }
      }
      return report;
    },
  );
};
