#!/usr/bin/env node
/**
 * The container image's HEALTHCHECK (and compose's): exits 0 when a readiness route answers 200, else 1. It
 * imports nothing of segserve, so a check costs a bare Node start (tens of ms), not the server's module graph
 * (onnxruntime, sharp) every 30 seconds.
 *
 * The URL is the argument, by default the server's readiness route on PORT: `segserve worker` passes its own
 * (`http://127.0.0.1:9091/readyz`).
 */
const url = process.argv[2] ?? `http://127.0.0.1:${process.env.PORT || 8080}/v2/health/ready`;

fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  (response) => {
    process.stdout.write(`${url}: ${response.status}\n`);
    process.exitCode = response.status === 200 ? 0 : 1;
  },
  (error: unknown) => {
    process.stdout.write(`${url}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
