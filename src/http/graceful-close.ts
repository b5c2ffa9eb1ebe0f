/**
 * What `app.close()` does beyond Fastify's own: requests in flight finish, everything else ends now.
 *
 * Node's server.close() only ends connections that are idle between requests. A connection that was opened and
 * never used (clients and load balancers open spare ones) counts as busy until its headers timeout, and a
 * keep-alive connection whose answer finishes during the close would stay open until the keep-alive timeout;
 * either would hold the shutdown for a minute. So connections without a request in flight are destroyed when
 * the close begins, answers finished during the close say `Connection: close`, and a request that still
 * arrives on a draining connection is answered SERVER_CLOSING (503).
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { SegserveError } from '../errors.js';

export function installGracefulClose(app: FastifyInstance): void {
  let closing = false;
  /** Every open connection, with the number of its requests in flight. */
  const inFlight = new Map<Socket, number>();

  app.server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  app.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    if (closing) {
      reply.header('connection', 'close');
      throw new SegserveError('SERVER_CLOSING');
    }
  });
  app.addHook('onResponse', async (request) => {
    const socket = request.raw.socket;
    const count = inFlight.get(socket);
    if (count !== undefined) inFlight.set(socket, Math.max(0, count - 1));
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('preClose', async () => {
    closing = true;
    for (const [socket, count] of inFlight) if (count === 0) socket.destroy();
  });
}
