/**
 * What `app.close()` does beyond Fastify's own: every request that reached the server gets an answer, and
 * the close does not wait on connections that carry none.
 *
 * Node's server.close() waits for every open connection. Requests in flight finish; a request that still
 * arrives on an open connection is answered SERVER_CLOSING (503) with `Connection: close`. The answers in flight
 * do not say `Connection: close` themselves: Node would then drop a request the client had already pipelined
 * behind them, unanswered. A connection idle when the close begins is not reset at once: a keep-alive client
 * may have sent its next request at that very moment (under load, 16 of 300 clients got a reset with no answer
 * that way). It is ended once it has stayed idle for IDLE_GRACE_MS, long enough for a request already on the
 * wire to arrive and be answered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { SegserveError } from '../errors.js';

/** How long a connection must stay idle during the close before it is ended. */
const IDLE_GRACE_MS = 500;

interface Connection {
  /** Requests received on it (headers complete) whose response has not finished. */
  inFlight: number;
  idleTimer?: NodeJS.Timeout;
}

export function installGracefulClose(app: FastifyInstance): void {
  let closing = false;
  const connections = new Map<Socket, Connection>();

  const endWhenIdle = (socket: Socket, connection: Connection) => {
    clearTimeout(connection.idleTimer);
    if (connection.inFlight > 0) return;
    connection.idleTimer = setTimeout(() => {
      if (connection.inFlight === 0) socket.end();
    }, IDLE_GRACE_MS);
  };

  app.server.on('connection', (socket: Socket) => {
    const connection: Connection = { inFlight: 0 };
    connections.set(socket, connection);
    socket.once('close', () => {
      clearTimeout(connection.idleTimer);
      connections.delete(socket);
    });
    if (closing) endWhenIdle(socket, connection);
  });
  // The server's own 'request' event comes before any Fastify hook, so a request is counted from the moment
  // its headers are in, whatever happens to it in the hooks.
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    const connection = connections.get(socket);
    if (!connection) return;
    connection.inFlight++;
    clearTimeout(connection.idleTimer);
    response.once('close', () => {
      connection.inFlight = Math.max(0, connection.inFlight - 1);
      if (closing) endWhenIdle(socket, connection);
    });
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw new SegserveError('SERVER_CLOSING');
    }
  });
  app.addHook('preClose', async () => {
    closing = true;
    for (const [socket, connection] of connections) endWhenIdle(socket, connection);
  });
}
