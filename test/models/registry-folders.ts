/**
 * Model folders for the registry tests: a repository of tiny softmax models written to a temporary folder,
 * changed the way an operator would (a version folder added or removed, a model file replaced, config.yaml
 * edited), each write complete before the next look at it.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';

export const TINY = tinySoftmaxModel();

/** Bytes that are not an ONNX model: its load fails. */
export const BROKEN_ONNX = Buffer.from('not an ONNX protobuf, just text');

export class RepositoryFolder {
  constructor(readonly root: string) {}

  static async create(): Promise<RepositoryFolder> {
    return new RepositoryFolder(await mkdtemp(join(tmpdir(), 'segserve-registry-')));
  }

  /** Writes config.yaml of `model` (the tiny softmax model's, with `extra` on top; its folder name is its name). */
  async config(model: string, extra: Record<string, unknown> = {}): Promise<void> {
    const config = { ...(TINY.config as Record<string, unknown>), ...extra };
    if (!('name' in extra)) delete config.name;
    await mkdir(join(this.root, model), { recursive: true });
    await this.#replace(join(this.root, model, 'config.yaml'), stringify(config));
  }

  /** Writes `<model>/<version>/model.onnx`, complete, by a rename (as a careful copy would). */
  async version(model: string, version: number, bytes: Uint8Array = TINY.bytes): Promise<void> {
    await mkdir(join(this.root, model, String(version)), { recursive: true });
    await this.#replace(join(this.root, model, String(version), 'model.onnx'), bytes);
  }

  /** A model folder with its config and these versions. */
  async model(model: string, versions: number[], extra: Record<string, unknown> = {}): Promise<void> {
    for (const version of versions) await this.version(model, version);
    await this.config(model, extra);
  }

  async removeVersion(model: string, version: number): Promise<void> {
    await rm(join(this.root, model, String(version)), { recursive: true, force: true });
  }

  async removeModel(model: string): Promise<void> {
    await rm(join(this.root, model), { recursive: true, force: true });
  }

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  async #replace(path: string, content: string | Uint8Array): Promise<void> {
    // Hidden while written, as rsync does: the watch does not look at hidden files.
    const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
    await writeFile(temp, content);
    await rename(temp, path);
  }
}
