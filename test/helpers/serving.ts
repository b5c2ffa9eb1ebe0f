/**
 * Tests reach models the way every adapter does: through one InferenceService per repository, admitting each
 * request and releasing it once done.
 */
import type { ModelRepository } from '../../src/models/index.js';
import type { Segmentation, SegmentOptions } from '../../src/serving/pipeline.js';
import { InferenceService, type ServiceOptions } from '../../src/serving/service.js';

const services = new WeakMap<ModelRepository, InferenceService>();

/** The service over `repository` (one per repository, so admission is shared like in a server). */
export function serviceFor(
  repository: ModelRepository,
  options: Partial<ServiceOptions> = {},
): InferenceService {
  if (Object.keys(options).length > 0) return new InferenceService(repository, options);
  let service = services.get(repository);
  if (!service) {
    service = new InferenceService(repository);
    services.set(repository, service);
  }
  return service;
}

/** Segments `bytes` with `model` (and `version`), as one admitted request. */
export async function segment(
  repository: ModelRepository,
  model: string,
  bytes: Uint8Array,
  options: SegmentOptions & { version?: number } = {},
): Promise<Segmentation> {
  const service = serviceFor(repository);
  const ticket = service.admit({ model, version: options.version }, { source: 'cli' });
  try {
    return await service.segment(ticket, bytes, options);
  } finally {
    ticket.release();
  }
}
