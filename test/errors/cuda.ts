/** Whether onnxruntime-node's CUDA provider library is installed (then asking for cuda may well succeed). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const cudaInstalled = existsSync(
  fileURLToPath(
    new URL(
      `../../node_modules/onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/libonnxruntime_providers_cuda.so`,
      import.meta.url,
    ),
  ),
);
