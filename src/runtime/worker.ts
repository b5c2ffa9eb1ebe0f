/**
 * Worker-thread entry: owns one onnxruntime session. `session.run` blocks its thread for the whole inference,
 * so sessions live only here, never on the main thread. Loads the model, warms it up, then serves one job at a
 * time (the pool never sends a second before the first is answered): the tensor fill from decoded pixels,
 * inference, and the task decoder when asked, so no per-pixel loop runs on the main thread.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { SegserveError } from '../errors.js';
import { executeBatch } from './batch.js';
import { executeJob, type Infer, type JobOutcome, TensorScratch, warmUpImageFill } from './job.js';
import { describeValues, fromOrtOutputs, toOrtTensor, zeroTensor } from './ort-tensors.js';
import type { FromWorker, RunBatch, RunJob, SerializedError, ToWorker, WorkerInit } from './protocol.js';
import { buildSessionOptions, sessionLoadError } from './session-options.js';
import { transferResult, transferTensors } from './transfer.js';

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function serialize(error: unknown, fallback: (reason: string) => SegserveError): SerializedError {
  return (error instanceof SegserveError ? error : fallback(errorMessage(error))).toJSON();
}

function post(port: MessagePort, message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function loadSession(init: WorkerInit): Promise<ort.InferenceSession> {
  const model = { name: init.modelName, version: init.version };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(init.modelPath, buildSessionOptions(init.settings));
  } catch (error) {
    throw sessionLoadError(error, init.settings, model);
  }
  // The first run allocates buffers and picks kernels; doing it now keeps that cost off the first request.
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of describeValues(session.inputMetadata))
      feeds[input.name] = zeroTensor(input, init.warmupShape);
    await session.run(feeds);
    if (init.warmupShape) warmUpImageFill(init.warmupShape.width, init.warmupShape.height);
  } catch (error) {
    await session.release();
    throw new SegserveError('MODEL_LOAD_FAILED', {
      ...model,
      reason: `warm-up run with zero inputs failed: ${errorMessage(error)}`,
    });
  }
  return session;
}

const scratch = new TensorScratch();

function inferOn(session: ort.InferenceSession): Infer {
  return async (feeds, outputNames) => {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(tensor);
    return fromOrtOutputs(
      outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds),
    );
  };
}

function answer(port: MessagePort, id: number, outcome: JobOutcome): void {
  const { timings, statistics, hash } = outcome;
  if (outcome.result) {
    const { value, transfer } = transferResult(outcome.result);
    post(port, { type: 'done', id, result: value, timings, statistics, hash }, transfer);
    return;
  }
  const { value, transfer } = transferTensors(outcome.outputs ?? {});
  post(port, { type: 'done', id, outputs: value, timings, statistics, hash }, transfer);
}

function fail(port: MessagePort, id: number, error: unknown): void {
  post(port, {
    type: 'failed',
    id,
    error: serialize(error, (reason) => new SegserveError('INFERENCE_FAILED', { reason })),
  });
}

async function runJob(port: MessagePort, session: ort.InferenceSession, job: RunJob): Promise<void> {
  answer(port, job.id, await executeJob(job, inferOn(session), scratch));
}

async function runBatch(port: MessagePort, session: ort.InferenceSession, batch: RunBatch): Promise<void> {
  const outcomes = await executeBatch(batch.jobs, inferOn(session), scratch);
  outcomes.forEach((outcome, i) => {
    const id = batch.jobs[i].id;
    if (outcome instanceof Error) fail(port, id, outcome);
    else answer(port, id, outcome);
  });
}

async function main(port: MessagePort, init: WorkerInit): Promise<void> {
  let session: ort.InferenceSession;
  try {
    session = await loadSession(init);
  } catch (error) {
    post(port, {
      type: 'load-failed',
      error: serialize(
        error,
        (reason) =>
          new SegserveError('MODEL_LOAD_FAILED', { model: init.modelName, version: init.version, reason }),
      ),
    });
    port.close();
    return;
  }
  port.on('message', (message: ToWorker) => {
    if (message.type === 'stop') {
      // Releasing the session and closing the port leaves the thread with nothing to do, so it exits cleanly.
      session.release().finally(() => port.close());
      return;
    }
    if (message.type === 'run-batch') {
      runBatch(port, session, message).catch((error: unknown) => {
        for (const job of message.jobs) fail(port, job.id, error);
      });
      return;
    }
    runJob(port, session, message).catch((error: unknown) => fail(port, message.id, error));
  });
  post(port, {
    type: 'ready',
    inputs: describeValues(session.inputMetadata),
    outputs: describeValues(session.outputMetadata),
  });
}

if (!parentPort)
  throw new Error('src/runtime/worker.ts runs only as a worker thread (SessionPool starts it)');
await main(parentPort, workerData as WorkerInit);
