/**
 * What the deployment files may point probes and scrapers at: the routes `segserve serve` answers (asked of a
 * real server) and the routes of `segserve worker` (read from src/host/worker.ts, since a worker needs Redis and
 * PostgreSQL to start).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { freePort, writeRepository } from '../http/helpers.js';
import { startLogged } from './process-log.js';

/** The port each command listens on by default, as its options declare. */
export const DEFAULT_PORTS = { serve: 8080, worker: 9091 } as const;

export function workerRoutes(): Set<string> {
  const code = readFileSync(join(PROJECT_ROOT, 'src', 'host', 'worker.ts'), 'utf8');
  return new Set([...code.matchAll(/server\.get\('([^']+)'/g)].map((match) => match[1]));
}

/** Runs `use` against `segserve serve` on a tiny model, started here and ready, stopped after. */
export async function withServe<T>(use: (base: string) => Promise<T>): Promise<T> {
  const models = await writeRepository({ tiny: tinySoftmaxModel() });
  const data = await mkdtemp(join(tmpdir(), 'segserve-routes-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const served = startLogged(
    process.execPath,
    ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'serve', '--models', models],
    {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        SEGSERVE_DATA_DIR: data,
        SEGSERVE_CONFIG: '',
      },
    },
  );
  try {
    await served.logged((line) => String(line.msg).startsWith('Server listening at'), 60_000);
    const deadline = Date.now() + 60_000;
    while ((await fetch(`${base}/v2/health/ready`)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`not ready:\n${served.text()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return await use(base);
  } finally {
    served.child.kill('SIGTERM');
    await served.exited;
    await rm(models, { recursive: true, force: true });
    await rm(data, { recursive: true, force: true });
  }
}

/** The status of a GET of each path on a ready `segserve serve` (200 for a route that is there and healthy). */
export function serveStatuses(paths: Iterable<string>): Promise<Map<string, number>> {
  return withServe(async (base) => {
    const statuses = new Map<string, number>();
    for (const path of paths) statuses.set(path, (await fetch(`${base}${path}`)).status);
    return statuses;
  });
}
