/**
 * The dataset API (issue 10, point 5), over the server's stores: list datasets, show one and its versions,
 * snapshot the working set into a version, show a version's counts per class and split, diff two versions, and
 * export a version, either answered as one document (COCO, Label Studio, CVAT) or written with its images under
 * a blob-store prefix (every format, the mask folder included). Versions are named by id, unique prefix or
 * `latest`, as on the command line.
 */
import type { FastifyPluginAsync } from 'fastify';
import {
  blobTarget,
  datasetJson,
  describeVersion,
  diffJson,
  diffVersions,
  EXPORT_FORMATS,
  type ExportFormat,
  exportDocument,
  exportVersion,
  getDataset,
  listDatasets,
  listVersions,
  SPLITS,
  type Split,
  snapshotDataset,
  versionJson,
} from '../../learning/datasets/index.js';
import type { StorageAccess } from '../../storage/index.js';
import { errorResponses } from '../schemas.js';

export interface DatasetRouteOptions {
  storage: StorageAccess;
}

const string = { type: 'string' } as const;
const integer = { type: 'integer' } as const;
const nullableString = { type: 'string', nullable: true } as const;
const TASKS = ['semantic', 'binary', 'instance'];

const dataset = {
  type: 'object',
  required: ['name', 'task', 'labels', 'model', 'created_at', 'items', 'versions', 'latest'],
  properties: {
    name: string,
    task: { type: 'string', enum: TASKS },
    labels: { type: 'array', items: string, description: 'Class names by class id.' },
    model: nullableString,
    created_at: { type: 'string', format: 'date-time' },
    items: { ...integer, description: 'Images in the working set: what the next snapshot takes.' },
    versions: integer,
    latest: { ...nullableString, description: 'Id of the newest version.' },
  },
} as const;

const versionProperties = {
  dataset: string,
  id: { ...string, description: 'SHA-256 of the version manifest: the same content is the same id.' },
  items: integer,
  train: integer,
  validation: integer,
  parent: { ...nullableString, description: "The dataset's newest version when this one was made." },
  note: nullableString,
  created_at: { type: 'string', format: 'date-time' },
} as const;
const VERSION_REQUIRED = Object.keys(versionProperties);

const version = { type: 'object', required: VERSION_REQUIRED, properties: versionProperties } as const;

const splitCounts = {
  type: 'object',
  required: [...SPLITS],
  properties: Object.fromEntries(SPLITS.map((s) => [s, integer])),
} as const;

const versionDetail = {
  type: 'object',
  required: [...VERSION_REQUIRED, 'task', 'classes', 'unlabelled_images'],
  properties: {
    ...versionProperties,
    task: { type: 'string', enum: TASKS },
    unlabelled_images: { ...integer, description: 'Images whose label has no segment.' },
    classes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['class_id', 'label', 'images', 'images_by_split', 'segments', 'pixels'],
        properties: {
          class_id: integer,
          label: string,
          images: integer,
          images_by_split: splitCounts,
          segments: integer,
          pixels: integer,
        },
      },
    },
  },
} as const;

const diffEntry = {
  type: 'object',
  required: ['image_sha256', 'label_sha256', 'split'],
  properties: { image_sha256: string, label_sha256: string, split: { type: 'string', enum: [...SPLITS] } },
} as const;

const diff = {
  type: 'object',
  required: ['from', 'to', 'added', 'removed', 'changed', 'unchanged'],
  properties: {
    from: { ...version, nullable: true },
    to: version,
    added: { type: 'array', items: diffEntry },
    removed: { type: 'array', items: diffEntry },
    changed: {
      type: 'array',
      items: {
        type: 'object',
        required: ['image_sha256', 'split', 'from_label_sha256', 'to_label_sha256'],
        properties: {
          image_sha256: string,
          split: { type: 'string', enum: [...SPLITS] },
          from_label_sha256: string,
          to_label_sha256: string,
        },
      },
    },
    unchanged: integer,
  },
} as const;

const exportResult = {
  type: 'object',
  required: ['record', 'target', 'written'],
  properties: {
    target: string,
    written: { type: 'boolean', description: 'False when the prefix already held this very export.' },
    record: {
      type: 'object',
      required: [
        'format',
        'dataset',
        'version',
        'installation',
        'task',
        'labels',
        'images',
        'splits',
        'files',
      ],
      properties: {
        format: { type: 'string', enum: [...EXPORT_FORMATS] },
        dataset: string,
        version: string,
        installation: string,
        task: { type: 'string', enum: TASKS },
        labels: { type: 'array', items: string },
        images: integer,
        splits: splitCounts,
        files: { type: 'array', items: string },
      },
    },
  },
} as const;

const snapshotAnswer = {
  type: 'object',
  required: ['created', 'version'],
  properties: {
    created: { type: 'boolean', description: 'False when the working set already was this version (200).' },
    version,
  },
} as const;

const nameParam = { type: 'object', required: ['name'], properties: { name: string } } as const;
const VERSION_REF = {
  ...string,
  description: 'Version id, a unique prefix of one (at least 4 characters), or `latest`.',
} as const;
const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: string, version: VERSION_REF },
} as const;
const IMAGE_ROOT = {
  ...string,
  maxLength: 2000,
  description: 'Label Studio: what `data.image` starts with, e.g. a bucket URL (default `images/`).',
} as const;

const TAGS = ['datasets'];

export const datasetRoutes: FastifyPluginAsync<DatasetRouteOptions> = async (app, { storage }) => {
  const stores = async () => ({ db: await storage.database(), blobs: await storage.blobs() });

  app.get(
    '/v1/datasets',
    {
      schema: {
        tags: TAGS,
        summary: 'Every dataset with its task, classes, working set and newest version',
        response: {
          200: {
            type: 'object',
            required: ['datasets'],
            properties: { datasets: { type: 'array', items: dataset } },
          },
          ...errorResponses,
        },
      },
    },
    async () => ({ datasets: (await listDatasets(await storage.database())).map(datasetJson) }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/datasets/:name',
    {
      schema: {
        tags: TAGS,
        summary: 'One dataset',
        params: nameParam,
        response: { 200: dataset, ...errorResponses },
      },
    },
    async (request) => datasetJson(await getDataset(await storage.database(), request.params.name)),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/datasets/:name/versions',
    {
      schema: {
        tags: TAGS,
        summary: "The dataset's versions, newest first",
        params: nameParam,
        response: {
          200: {
            type: 'object',
            required: ['versions'],
            properties: { versions: { type: 'array', items: version } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => ({
      versions: (await listVersions(await storage.database(), request.params.name)).map(versionJson),
    }),
  );

  app.post<{ Params: { name: string }; Body: { note?: string } | undefined }>(
    '/v1/datasets/:name/versions',
    {
      schema: {
        tags: TAGS,
        summary: "Snapshot the dataset's working set into a version",
        description:
          'The version id is the SHA-256 of its manifest (image hash, label hash, split per image), so a working set ' +
          'that has not changed is the version it already is: answered 200 with `created: false`, nothing recorded. ' +
          'A new version answers 201. A dataset with no labelled image: 409 DATASET_EMPTY.',
        params: nameParam,
        body: {
          type: 'object',
          nullable: true,
          properties: { note: { type: 'string', maxLength: 1000, description: 'Kept with a new version.' } },
        },
        response: { 200: snapshotAnswer, 201: snapshotAnswer, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { db, blobs } = await stores();
      const { version: snapshot, created } = await snapshotDataset(
        db,
        blobs,
        request.params.name,
        request.body?.note,
      );
      return reply.code(created ? 201 : 200).send({ created, version: versionJson(snapshot) });
    },
  );

  app.get<{ Params: { name: string; version: string } }>(
    '/v1/datasets/:name/versions/:version',
    {
      schema: {
        tags: TAGS,
        summary: 'One version: its images per split, and per class the images, segments and pixels',
        params: versionParams,
        response: { 200: versionDetail, ...errorResponses },
      },
    },
    async (request) => {
      const { db, blobs } = await stores();
      return describeVersion(db, blobs, request.params.name, request.params.version);
    },
  );

  app.get<{ Params: { name: string }; Querystring: { from?: string; to?: string } }>(
    '/v1/datasets/:name/diff',
    {
      schema: {
        tags: TAGS,
        summary: 'Images added, removed and relabelled from one version to another',
        params: nameParam,
        querystring: {
          type: 'object',
          properties: {
            from: {
              ...VERSION_REF,
              description: `${VERSION_REF.description} Default: the parent of \`to\`.`,
            },
            to: { ...VERSION_REF, description: `${VERSION_REF.description} Default: latest.` },
          },
        },
        response: { 200: diff, ...errorResponses },
      },
    },
    async (request) => {
      const { db, blobs } = await stores();
      const { from, to } = request.query;
      return diffJson(await diffVersions(db, blobs, request.params.name, to ?? 'latest', from));
    },
  );

  app.get<{
    Params: { name: string; version: string; format: Exclude<ExportFormat, 'masks'> };
    Querystring: { split?: Split; image_root?: string };
  }>(
    '/v1/datasets/:name/versions/:version/export/:format',
    {
      schema: {
        tags: TAGS,
        summary:
          'A version as one document: COCO instances JSON, Label Studio tasks JSON or CVAT for images 1.1 XML',
        description:
          'Images are referred to as `<sha256>.<ext>` (POST .../exports writes them beside the document). COCO: ' +
          'both splits in one file unless `split` is given. A mask PNG folder is many files: POST .../exports.',
        params: {
          type: 'object',
          required: ['name', 'version', 'format'],
          properties: {
            name: string,
            version: VERSION_REF,
            format: { type: 'string', enum: EXPORT_FORMATS.filter((f) => f !== 'masks') },
          },
        },
        querystring: {
          type: 'object',
          properties: { split: { type: 'string', enum: [...SPLITS] }, image_root: IMAGE_ROOT },
        },
        response: {
          200: {
            description: 'The document.',
            content: {
              'application/json': { schema: { type: 'object', additionalProperties: true } },
              'application/xml': { schema: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { db, blobs } = await stores();
      const { name, version: ref, format } = request.params;
      const { split, image_root: imageRoot } = request.query;
      const document = await exportDocument(db, blobs, name, ref, format, { split, imageRoot });
      return reply.type(document.contentType).send(document.body);
    },
  );

  app.post<{
    Params: { name: string; version: string };
    Body: { format: ExportFormat; prefix: string; image_root?: string };
  }>(
    '/v1/datasets/:name/versions/:version/exports',
    {
      schema: {
        tags: TAGS,
        summary: 'Write a version with its images under a prefix of the blob store, in any format',
        description:
          'Files go under `prefix` one by one with `export.json` last: a reader that finds it finds the whole ' +
          'export. A prefix already holding this export answers 200 with `written: false`; one holding anything ' +
          'else is refused (OUTPUT_NOT_WRITABLE); a failed export removes what it wrote.',
        params: versionParams,
        body: {
          type: 'object',
          required: ['format', 'prefix'],
          properties: {
            format: { type: 'string', enum: [...EXPORT_FORMATS] },
            prefix: { type: 'string', minLength: 1, maxLength: 900 },
            image_root: IMAGE_ROOT,
          },
        },
        response: { 200: exportResult, 201: exportResult, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { db, blobs } = await stores();
      const { name, version: ref } = request.params;
      const { format, prefix, image_root: imageRoot } = request.body;
      const target = await blobTarget(blobs, prefix);
      const result = await exportVersion(db, blobs, name, ref, format, target, { imageRoot });
      return reply.code(result.written ? 201 : 200).send(result);
    },
  );
};
