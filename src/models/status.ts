/**
 * The states and error summaries of models and versions. Types only, with no Node-only imports, because the
 * model list the server answers (src/serving/types.ts) and the browser UI read them too.
 */
export type LoadState = 'ready' | 'loading' | 'failed';

/** A load error as clients see it: the catalogue code and its message. */
export interface ErrorSummary {
  code: string;
  message: string;
}
