/**
 * A server as the training tests start it: an empty model repository in `dir`/models that uploads fill, storage
 * in `dir` (testStorage), and the tests' admin key, for `segserve train --push` and the admin routes.
 */
import { join } from 'node:path';
import { type RunningServer, type ServeOptions, startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { ADMIN_KEY } from './lifecycle.js';
import { testStorage } from './storage.js';

export function startTrainingServer(
  dir: string,
  options: Partial<ServeOptions> = {},
): Promise<RunningServer> {
  return startServer({
    modelsDir: join(dir, 'models'),
    port: 0,
    host: '127.0.0.1',
    logger: false,
    predictionLog: 'off',
    storage: testStorage(dir),
    adminKeys: AdminKeys.fromEntries([{ text: ADMIN_KEY, where: 'test' }]),
    ...options,
  });
}
