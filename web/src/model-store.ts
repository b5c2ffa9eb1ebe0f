/** The model list, fetched once and shared by both pages; the models page can ask for a fresh copy. */
import { listModels } from './api';
import type { ModelList } from './types';

let pending: Promise<ModelList> | null = null;

export function models(refresh = false): Promise<ModelList> {
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
