// The peer of bench/engine_bench: an ONNX face engine in onnxruntime-node (CPU execution
// provider), images per second over the engine's 8 reference inputs, one image per run (the
// file fixes batch 1), at the given intra-op thread count. Prints the same tab-separated
// "bench" line as bench/harness.hpp: name, implementation, threads, median ms, min ms, rate.
//
//   NODE_PATH=<dir with onnxruntime-node> node onnxruntime_engine.js MODEL.onnx IMAGES.bin SIDE THREADS
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, images, sideArg, threadsArg] = process.argv.slice(2);
  const side = Number(sideArg), threads = Number(threadsArg);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const bytes = fs.readFileSync(images);
  const per = side * side * 3, count = bytes.length / per;
  const inputs = [];
  for (let n = 0; n < count; ++n) {
    const x = new Float32Array(per);
    for (let c = 0; c < 3; ++c)
      for (let p = 0; p < side * side; ++p) x[c * side * side + p] = (bytes[n * per + p * 3 + c] - 127) / 128;
    inputs.push(new ort.Tensor('float32', x, [1, 3, side, side]));
  }
  const name = session.inputNames[0];
  for (const x of inputs) await session.run({[name]: x});  // warm-up
  const times = [];
  for (let rep = 0; rep < 7; ++rep) {
    const t0 = process.hrtime.bigint();
    for (const x of inputs) await session.run({[name]: x});
    times.push(Number(process.hrtime.bigint() - t0) / 1e6 / count);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(['bench', 'onnx_engine_' + model.split('/').slice(-2)[0], 'onnxruntime', threads, median.toFixed(3),
               times[0].toFixed(3), (1000 / median).toFixed(1), 'images/s'].join('\t'));
}
main().catch((e) => { console.error(e); process.exit(1); });
