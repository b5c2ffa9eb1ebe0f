/**
 * How to start a worker-thread module that sits beside the caller. Compiled code runs `dist/.../<name>.js`
 * directly. From the TypeScript sources (vitest, tsx) the caller is a `.ts` file, and the worker starts through
 * worker-tsx.mjs, which registers tsx inside the thread and then imports the module named in the worker's argv.
 */
import type { WorkerOptions } from 'node:worker_threads';

export interface ThreadEntry {
  url: URL;
  /** Pass to `new Worker(url, { ...options, argv })`. */
  argv: string[];
}

/** `callerUrl` is the caller's `import.meta.url`; `name` the worker module's file name without extension. */
export function threadEntry(callerUrl: string, name: string): ThreadEntry {
  if (callerUrl.endsWith('.ts')) {
    return {
      url: new URL('./worker-tsx.mjs', import.meta.url),
      argv: [new URL(`./${name}.ts`, callerUrl).href],
    };
  }
  return { url: new URL(`./${name}.js`, callerUrl), argv: [] };
}

/** Worker options with the entry's argv added. */
export function threadOptions(entry: ThreadEntry, options: WorkerOptions = {}): WorkerOptions {
  return { ...options, argv: [...(options.argv ?? []), ...entry.argv] };
}
