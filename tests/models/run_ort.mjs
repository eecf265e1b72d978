// Runs one model with onnxruntime-node on the CPU to produce reference outputs.
//
//   node run_ort.mjs NPM_PREFIX MODEL.onnx IO_DIR
//
// IO_DIR/inputs.json lists {name, dtype, shape, file} with raw little-endian data in IO_DIR/<file>. Writes every
// graph output, in graph order, as IO_DIR/output_<i>.bin and describes them in IO_DIR/outputs.json the same way.
// Single-threaded so that the reference does not depend on the machine's core count.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [npmPrefix, modelPath, ioDir] = process.argv.slice(2);
if (!ioDir) {
  console.error('usage: node run_ort.mjs NPM_PREFIX MODEL.onnx IO_DIR');
  process.exit(2);
}
const require = createRequire(join(resolve(npmPrefix), 'package.json'));
const ort = require('onnxruntime-node');

// numpy dtype name -> [ORT tensor type, typed array constructor]
const kTypes = {
  float32: ['float32', Float32Array],
  float16: ['float16', Uint16Array],
  float64: ['float64', Float64Array],
  int64: ['int64', BigInt64Array],
  int32: ['int32', Int32Array],
  int8: ['int8', Int8Array],
  uint8: ['uint8', Uint8Array],
  bool: ['bool', Uint8Array],
};
const kNumpyName = Object.fromEntries(Object.entries(kTypes).map(([np, [t]]) => [t, np]));

function readTensor(spec) {
  const [type, Ctor] = kTypes[spec.dtype] ?? [];
  if (!type) throw new Error(`input ${spec.name}: unsupported dtype ${spec.dtype}`);
  const buf = readFileSync(join(ioDir, spec.file));
  // Copy into a fresh, aligned buffer: Buffer slices may not be aligned for the element size.
  const bytes = new Uint8Array(buf.byteLength);
  bytes.set(buf);
  const data = new Ctor(bytes.buffer);
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`input ${spec.name}: ${data.length} elements, shape wants ${count}`);
  return new ort.Tensor(type, data, spec.shape);
}

const inputs = JSON.parse(readFileSync(join(ioDir, 'inputs.json'), 'utf8'));
const session = await ort.InferenceSession.create(modelPath, {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const feeds = {};
for (const spec of inputs) feeds[spec.name] = readTensor(spec);
const results = await session.run(feeds);

const outputs = session.outputNames.map((name, i) => {
  const t = results[name];
  const dtype = kNumpyName[t.type];
  if (!dtype) throw new Error(`output ${name}: unsupported type ${t.type}`);
  const file = `output_${i}.bin`;
  writeFileSync(join(ioDir, file), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return { name, dtype, shape: t.dims.map(Number), file };
});
writeFileSync(join(ioDir, 'outputs.json'), JSON.stringify(outputs, null, 1));
console.log(JSON.stringify({ onnxruntime: ort.env.versions?.common ?? 'unknown' }));
