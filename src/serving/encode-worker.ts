/**
 * Encoder worker-thread entry: runs the answer encoders (JSON with RLE or polygons, mask PNG, overlay, COCO
 * results) on segmentations the EncoderPool lends it, so their per-pixel loops never hold the main thread.
 * One job at a time (the pool never sends a second before the first is answered); the lent arrays go back with
 * every answer, failed or not.
 */
import { type MessagePort, parentPort } from 'node:worker_threads';
import { SegserveError } from '../errors.js';
import { TransferList } from '../runtime/transfer.js';
import { decodeLentImage, type FromEncoder, returnLent, runEncodeJob, type ToEncoder } from './encode-job.js';

function post(port: MessagePort, message: FromEncoder, list: TransferList): void {
  port.postMessage(message, list.list());
}

async function encode(port: MessagePort, message: Extract<ToEncoder, { type: 'encode' }>): Promise<void> {
  const { id, seg, job } = message;
  const lentRgb = seg.rgb !== undefined;
  try {
    const decodeStarted = performance.now();
    await decodeLentImage(seg, job);
    // Decoding the image here replaces copying it across threads: it is part of this job's encode time.
    const decodeMs = performance.now() - decodeStarted;
    seg.timings.encode += decodeMs;
    const encoded = await runEncodeJob(seg, job);
    const encodeMs = encoded.encodeMs + decodeMs;
    const list = new TransferList();
    const { output } = encoded;
    // sharp's and zlib's output live in memory postMessage cannot transfer, only clone, which copies again on
    // the receiving (main) thread; copying here, once, keeps that off the main thread.
    const sent = output instanceof Uint8Array ? list.take(new Uint8Array(output)) : output;
    post(port, { type: 'done', id, output: sent, encodeMs, lent: returnLent(seg, lentRgb, list) }, list);
  } catch (error) {
    const failure =
      error instanceof SegserveError
        ? error
        : new SegserveError('ENCODE_FAILED', {
            reason: error instanceof Error ? error.message : String(error),
          });
    const list = new TransferList();
    post(port, { type: 'failed', id, error: failure.toJSON(), lent: returnLent(seg, lentRgb, list) }, list);
  }
}

if (!parentPort)
  throw new Error('src/serving/encode-worker.ts runs only as a worker thread (EncoderPool starts it)');
const port = parentPort;
port.on('message', (message: ToEncoder) => {
  // Closing the port leaves the thread with nothing to do, so it exits cleanly.
  if (message.type === 'stop') port.close();
  else void encode(port, message);
});
