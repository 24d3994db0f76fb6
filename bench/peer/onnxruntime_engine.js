// The peer of bench/engine_bench: an ONNX model in onnxruntime-node (CPU execution provider),
// images per second over the model's 8 reference inputs (uint8, H x W x C), one image per run
// (the files fix batch 1), fed as (p - MEAN) / DIV in (1, C, H, W), at the given intra-op thread
// count, with denormals flushed (PEER_IEEE=1 keeps them). Prints the same tab-separated "bench" line as bench/harness.hpp: NAME, implementation,
// threads, median ms, min ms, rate.
//
//   NODE_PATH=<dir with onnxruntime-node> node onnxruntime_engine.js MODEL.onnx IMAGES.bin C H W MEAN DIV THREADS NAME
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 9) throw new Error('usage: onnxruntime_engine.js MODEL.onnx IMAGES.bin C H W MEAN DIV THREADS NAME');
  const [model, images] = args;
  const [c_, h, w, mean, div, threads] = args.slice(2, 8).map(Number);
  const name_ = args[8];
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Denormals flushed, as bijgan's graph engines run (arcface512's weights hold subnormals:
    // without the flag this CPU took 96 ms per image instead of about 11). PEER_IEEE=1: off.
    extra: process.env.PEER_IEEE === '1' ? {} : {session: {set_denormal_as_zero: '1'}},
  });
  const bytes = fs.readFileSync(images);
  const per = h * w * c_, count = bytes.length / per;
  if (!Number.isInteger(count) || count < 1) throw new Error(`${images}: ${bytes.length} bytes is not N x ${h} x ${w} x ${c_}`);
  const inputs = [];
  for (let n = 0; n < count; ++n) {
    const x = new Float32Array(per);
    for (let c = 0; c < c_; ++c)
      for (let p = 0; p < h * w; ++p) x[c * h * w + p] = (bytes[n * per + p * c_ + c] - mean) / div;
    inputs.push(new ort.Tensor('float32', x, [1, c_, h, w]));
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
  console.log(['bench', name_, 'onnxruntime', threads, median.toFixed(3),
               times[0].toFixed(3), (1000 / median).toFixed(1), 'images/s'].join('\t'));
}
main().catch((e) => { console.error(e); process.exit(1); });
