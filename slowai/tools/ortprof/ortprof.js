// ortprof runs an ONNX model dumped by slowai/backend (SLOWAI_ONNX_DUMP=dir) under ONNX Runtime's own
// profiler and prints where the time of the last run went, by operator and by operator and output shape.
//
//	npm install --no-save --ignore-scripts onnxruntime-node@1.30.0   (once, here; the skipped script only
//	                                                               fetches optional GPU libraries)
//	node ortprof.js model.onnx [runs=4] [top=30]
//
// Inputs are random floats in [0, 0.1) and zero integers, which is enough to time a graph whose cost
// does not depend on the values (every training step and sampler here). The first runs are slower (ONNX
// Runtime plans and allocates its memory), so only the last run is reported.
const ort = require('onnxruntime-node');
const fs = require('fs');
const os = require('os');
const path = require('path');

const typed = {
  float32: (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.random() * 0.1; return a; },
  float64: (n) => { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = Math.random() * 0.1; return a; },
  int64: (n) => new BigInt64Array(n),
  uint64: (n) => new BigUint64Array(n),
  int32: (n) => new Int32Array(n),
  uint32: (n) => new Uint32Array(n),
  bool: (n) => new Uint8Array(n),
};

async function main() {
  const [model, runsArg = '4', topArg = '30'] = process.argv.slice(2);
  if (!model) {
    console.error('usage: node ortprof.js model.onnx [runs] [top]');
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ortprof-'));
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: path.join(dir, 'p'),
  });
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    const meta = session.inputMetadata[i];
    const dims = meta.shape.map(Number);
    const make = typed[meta.type];
    if (!make) throw new Error(`input ${name}: unsupported type ${meta.type}`);
    feeds[name] = new ort.Tensor(meta.type, make(dims.reduce((a, b) => a * b, 1)), dims);
  });
  const times = [];
  for (let r = 0; r < Number(runsArg); r++) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  session.endProfiling();
  const file = fs.readdirSync(dir).map((f) => path.join(dir, f))[0];
  const events = JSON.parse(fs.readFileSync(file));
  fs.rmSync(dir, { recursive: true });

  console.log('runs (ms):', times.map((t) => t.toFixed(1)).join(' '));
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs[runs.length - 1];
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= last.ts);
  const total = kernels.reduce((s, e) => s + e.dur, 0);
  console.log(`last run ${(last.dur / 1000).toFixed(1)} ms, of which operators ${(total / 1000).toFixed(1)} ms`);
  const table = (keyOf, title) => {
    const sums = new Map();
    for (const e of kernels) {
      const k = keyOf(e);
      const [t, n] = sums.get(k) || [0, 0];
      sums.set(k, [t + e.dur, n + 1]);
    }
    console.log(`\n${title}\n     ms  count`);
    [...sums].sort((a, b) => b[1][0] - a[1][0]).slice(0, Number(topArg)).forEach(([k, [t, n]]) =>
      console.log(`${(t / 1000).toFixed(1).padStart(7)} ${String(n).padStart(6)}  ${k}`));
  };
  table((e) => e.args.op_name, 'by operator');
  table((e) => `${e.args.op_name} -> ${JSON.stringify(e.args.output_type_shape)}`, 'by operator and output shape');
}

main().catch((err) => { console.error(err.message || err); process.exit(1); });
