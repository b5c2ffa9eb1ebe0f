/**
 * One Sampler per model version, from its config.yaml: made when the version is first met and kept, so a
 * prediction costs two map lookups (no string built), and a model without `sampling:` nothing more.
 */
import type { LoadedVersion } from '../../models/index.js';
import type { InferenceService } from '../../serving/service.js';
import { createSampler, type Sampler, type SamplerOptions } from '../sampler/index.js';

export interface VersionSampler {
  sampler: Sampler;
  /** Class names by class id, for the label document. */
  labels: readonly string[];
}

export class VersionSamplers {
  readonly #service: InferenceService;
  readonly #options: SamplerOptions;
  /** By model, then version; null for a version that samples nothing. */
  readonly #versions = new Map<string, Map<number, VersionSampler | null>>();

  constructor(service: InferenceService, options: SamplerOptions = {}) {
    this.#service = service;
    this.#options = options;
  }

  /** Makes the sampler of every version loaded now; true when at least one samples. */
  loadAll(): boolean {
    let samples = false;
    for (const model of this.#service.repository.list()) {
      for (const { version, state } of model.versions) {
        if (state === 'ready' && this.of(model.name, version)) samples = true;
      }
    }
    return samples;
  }

  /** The sampler of a version, or undefined when it samples nothing (or is not loaded). */
  of(model: string, version: number): VersionSampler | undefined {
    let versions = this.#versions.get(model);
    if (!versions) {
      versions = new Map();
      this.#versions.set(model, versions);
    }
    let entry = versions.get(version);
    if (entry === undefined) {
      entry = this.#create(model, version);
      versions.set(version, entry);
    }
    return entry ?? undefined;
  }

  /** Drops the sampler of a version (unloaded, or reloaded with a config that may sample otherwise). */
  forget(model: string, version: number): void {
    this.#versions.get(model)?.delete(version);
  }

  *all(): Iterable<Sampler> {
    for (const versions of this.#versions.values()) {
      for (const entry of versions.values()) if (entry) yield entry.sampler;
    }
  }

  #create(model: string, version: number): VersionSampler | null {
    let loaded: LoadedVersion;
    try {
      loaded = this.#service.repository.resolve(model, version);
    } catch {
      // Not a loaded version (a drift event for one that failed): it makes no predictions to sample.
      return null;
    }
    const sampler = createSampler({ model, version, config: loaded.config }, this.#options);
    return sampler ? { sampler, labels: loaded.labels } : null;
  }
}
