// node training/tests/ort_check.mjs OUT [HxW ...]: runs OUT/parity.json through onnxruntime-node (the runtime
// segserve serves with) and prints one JSON line: tensor names and dims, and the largest differences from
// PyTorch. Each HxW also runs a zero input of that size, to show the graph's dynamic height and width.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [out, ...sizes] = process.argv.slice(2);
const parity = JSON.parse(readFileSync(`${out}/parity.json`, 'utf8'));
const config = readFileSync(`${out}/config.yaml`, 'utf8');
const number = (key) => Number(config.match(new RegExp(`^  ${key}: (.+)$`, 'm'))[1]);
const triple = (key) => JSON.parse(config.match(new RegExp(`^  ${key}: (\\[.+\\])$`, 'm'))[1]);
const [scale, mean, std] = [number('scale'), triple('mean'), triple('std')];

// config.yaml's formula, as segserve's rawToTensor applies it: value = (pixel * scale - mean[c]) / std[c].
const { width, height, channels, base64 } = parity.input.pixels;
const pixels = Buffer.from(base64, 'base64');
const plane = width * height;
const data = new Float32Array(3 * plane);
for (let c = 0; c < 3; c++) {
  for (let i = 0; i < plane; i++) {
    const p = pixels[i * channels + (channels === 1 ? 0 : c)];
    data[c * plane + i] = (p * scale - mean[c]) / std[c];
  }
}
const largest = (samples, values) =>
  Math.max(...samples.index.map((index, k) => Math.abs(values[index] - samples.value[k])));

const session = await ort.InferenceSession.create(`${out}/model.onnx`);
const feeds = { [parity.input.name]: new ort.Tensor('float32', data, parity.input.dims) };
const result = (await session.run(feeds))[parity.output.name];
const dynamic = [];
for (const size of sizes) {
  const [h, w] = size.split('x').map(Number);
  const dims = [1, 3, h, w];
  const zero = new ort.Tensor('float32', new Float32Array(3 * h * w), dims);
  dynamic.push({ input: dims, output: (await session.run({ [parity.input.name]: zero }))[parity.output.name].dims });
}
console.log(
  JSON.stringify({
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    outputDims: result.dims,
    inputMaxDiff: largest(parity.input.samples, data),
    outputMaxDiff: largest(parity.output.samples, result.data),
    dynamic,
  }),
);
