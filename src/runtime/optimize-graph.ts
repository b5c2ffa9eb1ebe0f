/**
 * ONNX Runtime's provider-independent graph rewrites (level `basic`: constant folding, BatchNormalization and
 * bias Add folded into Conv, redundant nodes removed), saved as a plain ONNX file. The int8 quantiser starts from
 * this graph: a Conv whose bias is a separate Add (YOLOv8 exports) or a BatchNormalization after it (SINet)
 * becomes one Conv with a bias, so the quantised Conv carries its bias in int32 and fuses into QLinearConv.
 */
import * as ort from 'onnxruntime-node';

export async function saveBasicOptimizedGraph(modelPath: string, outPath: string): Promise<void> {
  const session = await ort.InferenceSession.create(modelPath, {
    graphOptimizationLevel: 'basic',
    optimizedModelFilePath: outPath,
    executionProviders: ['cpu'],
    // Warnings such as "Initializer ... appears in graph inputs" (one per weight in some exports) are noise.
    logSeverityLevel: 3,
  });
  await session.release();
}
