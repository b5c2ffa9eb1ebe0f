/**
 * Label worker-thread entry (LabelEncoder starts it): turns large results into label-document bytes, whose
 * per-pixel loops would otherwise hold the main thread (a 4000x3000 semantic result: 85-150 ms here).
 */
import { parentPort } from 'node:worker_threads';
import { encodeLabelDocument, labelFromResult } from '../label-document.js';
import type { FromLabelWorker, ToLabelWorker } from './label-encoder.js';

if (!parentPort) throw new Error('label-worker.ts runs only as a worker thread (LabelEncoder starts it)');
const port = parentPort;
port.on('message', (message: ToLabelWorker) => {
  // Closing the port leaves the thread with nothing to do, so it exits cleanly.
  if (message.type === 'stop') {
    port.close();
    return;
  }
  let answer: FromLabelWorker;
  try {
    const bytes = encodeLabelDocument(labelFromResult(message.result, message.labels));
    answer = { id: message.id, bytes };
    port.postMessage(answer, [bytes.buffer as ArrayBuffer]);
  } catch (error) {
    answer = { id: message.id, error: error instanceof Error ? error.message : String(error) };
    port.postMessage(answer);
  }
});
