/**
 * A throw-away HTTP server on 127.0.0.1 that plays the remote side of URL fetching: images, redirects, slow and
 * oversized bodies, errors. Nothing in the HTTP tests talks to any address but loopback.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type OriginHandler = (request: IncomingMessage, response: ServerResponse) => void;

export interface Origin {
  /** http://127.0.0.1:<port> */
  base: string;
  port: number;
  /** Requests received, by path, so tests can prove a refused target was never contacted. */
  hits: string[];
  close(): Promise<void>;
}

export async function startOrigin(routes: Record<string, OriginHandler>): Promise<Origin> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    hits.push(path);
    const handler = routes[path];
    if (handler) handler(request, response);
    else response.writeHead(404).end('not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function redirectTo(location: string, status = 302): OriginHandler {
  return (_request, response) => response.writeHead(status, { location }).end();
}

export function serveBytes(bytes: Buffer, type = 'application/octet-stream'): OriginHandler {
  return (_request, response) => response.writeHead(200, { 'content-type': type }).end(bytes);
}
