/** The model list, fetched once and shared by both pages; the models page can ask for a fresh copy. */

import type { ModelListJson } from '../../src/serving/types.js';
import { listModels } from './api';

let pending: Promise<ModelListJson> | null = null;

export function models(refresh = false): Promise<ModelListJson> {
  if (refresh || !pending) {
    const current = listModels();
    pending = current;
    // A failed fetch is not kept: the next caller tries again.
    current.catch(() => {
      if (pending === current) pending = null;
    });
  }
  return pending;
}
