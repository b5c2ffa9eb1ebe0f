/**
 * Shared set-up of the HTTP tests: a model repository of tiny models written to a temporary folder, the app
 * listening on a loopback port, and the images the tiny models know exactly.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { buildApp } from '../../src/http/app.js';
import type { AppOptions } from '../../src/http/options.js';
import type { RawImage } from '../../src/image/types.js';
import { ModelRepository } from '../../src/models/index.js';
import { serviceFor } from '../helpers/serving.js';

export interface ModelFolder {
  bytes: Uint8Array;
  /** config.yaml content; `name` is dropped so the folder name is the model name. */
  config: unknown;
  labels?: string[];
  /** Versions written (same bytes each); default [1]. More than one serves them all. */
  versions?: number[];
}

export interface TinyRepository {
  dir: string;
  repository: ModelRepository;
  close(): Promise<void>;
}

/** Writes each model as `<dir>/<name>/<version>/model.onnx` with its config into a new temporary folder. */
export async function writeRepository(models: Record<string, ModelFolder>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'segserve-http-'));
  for (const [name, model] of Object.entries(models)) {
    const versions = model.versions ?? [1];
    for (const version of versions) {
      await mkdir(join(dir, name, String(version)), { recursive: true });
      await writeFile(join(dir, name, String(version), 'model.onnx'), model.bytes);
    }
    const config = { ...(model.config as Record<string, unknown>) };
    if (!config.labels && model.labels) config.labels = model.labels;
    if (versions.length > 1) config.version_policy = { all: true };
    delete config.name;
    await writeFile(join(dir, name, 'config.yaml'), stringify(config));
  }
  return dir;
}

/** `writeRepository`, opened. */
export async function tinyRepository(models: Record<string, ModelFolder>): Promise<TinyRepository> {
  return openTemporaryRepository(await writeRepository(models));
}

/** Opens the temporary folder `dir` as a model repository; `close` also deletes the folder. */
export async function openTemporaryRepository(dir: string): Promise<TinyRepository> {
  const repository = await ModelRepository.open(dir);
  return {
    dir,
    repository,
    async close() {
      await repository.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningApp {
  app: FastifyInstance;
  /** http://127.0.0.1:<port> */
  base: string;
}

export type TestAppOptions = Omit<AppOptions, 'service'> & {
  repository: ModelRepository;
  /** The configured default model of the service. */
  defaultModel?: string;
};

/** The app over a service on `repository`, not listening, no logs unless asked for. */
export function buildTestApp(options: TestAppOptions): Promise<FastifyInstance> {
  const { repository, defaultModel, ...appOptions } = options;
  const service =
    defaultModel === undefined ? serviceFor(repository) : serviceFor(repository, { defaultModel });
  return buildApp({ logger: false, ...appOptions, service });
}

/** The app on an ephemeral loopback port, no logs unless asked for. */
export async function listen(options: TestAppOptions): Promise<RunningApp> {
  const app = await buildTestApp(options);
  return { app, base: await listenOnLoopback(app) };
}

/**
 * A loopback port nothing listens on (it was free a moment ago): for a server to start on, or for a connection
 * that must be refused.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `app` listening on an ephemeral loopback port; its base URL, http://127.0.0.1:<port>. */
export async function listenOnLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

export function png(image: RawImage): Promise<Buffer> {
  return sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: image.channels },
  })
    .png()
    .toBuffer();
}

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** The error body of a response, checked to have the one error shape. */
export async function errorOf(response: Response): Promise<ErrorBody['error']> {
  const body = (await response.json()) as ErrorBody;
  if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string') {
    throw new Error(`not an error body: ${JSON.stringify(body)}`);
  }
  return body.error;
}
