/**
 * The machine's Redis (127.0.0.1:6379; `.ci/run` starts it when it is down), for the suites that use it: they
 * say SKIPPED with the reason when it does not answer, never pass in silence.
 */
import { connect } from 'node:net';

export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/** Why Redis cannot be used, or undefined when it answers PING. */
export function redisProblem(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(6379, '127.0.0.1');
    const done = (problem: string | undefined) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(2_000, () => done('no answer from Redis at 127.0.0.1:6379 within 2 s'));
    socket.on('error', (error) => done(`Redis at 127.0.0.1:6379: ${error.message}`));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) =>
      done(data.toString().startsWith('+PONG') ? undefined : `Redis answered ${data.toString().trim()}`),
    );
  });
}
