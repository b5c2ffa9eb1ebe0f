/** How every failure reads in the UI: the API's stable code and its message. */

import type { ErrorSummary } from '../../src/serving/types.js';
import { ApiError } from './api';
import { h } from './dom';

function isSummary(value: unknown): value is ErrorSummary {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ErrorSummary).code === 'string' &&
    typeof (value as ErrorSummary).message === 'string'
  );
}

export function describeError(error: unknown): ErrorSummary {
  if (error instanceof ApiError || isSummary(error)) return { code: error.code, message: error.message };
  return { code: 'ERROR', message: error instanceof Error ? error.message : String(error) };
}

/**
 * `announce`: an alert read out at once, for failures of what the user just did; states shown in a listing
 * (a model that failed to load) are not announced.
 */
export function problem(error: unknown, title?: string, announce = true): HTMLElement {
  const { code, message } = describeError(error);
  return h(
    'div',
    { class: 'problem', role: announce ? 'alert' : undefined },
    title ? h('p', { class: 'problem-title' }, title) : null,
    h(
      'p',
      {},
      h('code', { class: 'problem-code' }, code),
      ' ',
      h('span', { class: 'problem-message' }, message),
    ),
  );
}
