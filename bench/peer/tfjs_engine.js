// The peer of bench/engine_bench for TF.js graph models: the model in TensorFlow.js 4.22.0
// with its WASM backend (the fast one in Node without native binaries), images per second over
// the engine's 8 reference inputs, one image per call, at the given thread count. Prints the
// "bench" line of bench/harness.hpp: name, implementation, threads, median ms, min ms, rate.
//
//   NODE_PATH=<dir with @tensorflow/tfjs and tfjs-backend-wasm> node tfjs_engine.js MODEL.json IMAGES.bin SIDE SCALE OUTPUT THREADS
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

async function main() {
  const [model, images, sideArg, scaleArg, output, threadsArg] = process.argv.slice(2);
  const side = Number(sideArg), scale = Number(scaleArg), threads = Number(threadsArg);
  wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  const j = JSON.parse(fs.readFileSync(model));
  const specs = [], bufs = [];
  for (const g of j.weightsManifest) {
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(model), p)));
    specs.push(...g.weights);
  }
  const b = Buffer.concat(bufs);
  const gm = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: j.modelTopology, weightSpecs: specs, weightData: b.buffer.slice(b.byteOffset, b.byteOffset + b.length),
    format: j.format, generatedBy: j.generatedBy, convertedBy: j.convertedBy, signature: j.signature}));
  const bytes = fs.readFileSync(images);
  const per = side * side * 3, count = bytes.length / per;
  const inputs = [];
  for (let n = 0; n < count; ++n) {
    const x = new Float32Array(per);
    for (let i = 0; i < per; ++i) x[i] = bytes[n * per + i] * scale;
    inputs.push(tf.tensor4d(x, [1, side, side, 3]));
  }
  const run = async (x) => { const y = gm.execute(x, output); await y.data(); y.dispose(); };
  for (const x of inputs) await run(x);  // warm-up
  const times = [];
  for (let rep = 0; rep < 5; ++rep) {
    const t0 = process.hrtime.bigint();
    for (const x of inputs) await run(x);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6 / count);
  }
  times.sort((a, c) => a - c);
  const median = times[Math.floor(times.length / 2)];
  console.log(['bench', 'tfjs_engine_' + path.basename(path.dirname(model)), 'tfjs-wasm', threads, median.toFixed(3),
               times[0].toFixed(3), (1000 / median).toFixed(1), 'images/s'].join('\t'));
}
main().catch((e) => { console.error(e); process.exit(1); });
