// The model's own worker: onnxruntime-web's WASM session, apart from Python. Started by the
// engine's worker (model-worker-runner.js is its other end), so that creating the session and
// Python's start or restore, both long and synchronous, run on two cores at once instead of
// taking turns on one thread. Only the WASM backend lives here; a WebGPU session stays in the
// engine's worker, next to the adapter it was probed with.
//
// Messages (engine's worker -> here): prepare {module}, open {id, modelBytes, choice, module},
// run {id, data, dims, into?}, release {id}; replies: {id, value} or {id, error}. A run hands
// back its input's buffer (`input`) and writes the logits into `into` (the last run's logits'
// buffer) when they fit: the two buffers go back and forth instead of new ones each run.
import { createModelRunner } from './model-runner.js';

let runner = null;

const handlers = {
  // Sent as soon as the backend is known, before the model file is read: the bundle loads meanwhile.
  // (createModelRunner imports it again: the module map gives the same one, its wait measured.)
  prepare: ({ module }) => void import(module).catch(() => {}),
  async open({ modelBytes, choice, module }) {
    const stages = {};
    runner = await createModelRunner(modelBytes, choice, { module, onStage: (name, t) => (stages[name] = t) });
    return { value: { name: runner.name, threads: runner.threads, worker: runner.worker, stages } };
  },
  async run({ data, dims, into }) {
    // runSession (model-runner.js) reads its input as a Pyodide buffer would give it.
    const pixels = { getBuffer: () => ({ data, shape: dims, release() {} }) };
    const output = await runner.run(pixels);
    // The logits are onnxruntime's copy out of its WASM memory: into the buffer that came for
    // them, or handed over as they are.
    let logits = output.data;
    if (into?.byteLength === logits.byteLength) {
      const target = new Float32Array(into);
      target.set(logits);
      logits = target;
    } else if (logits.byteLength !== logits.buffer.byteLength) {
      logits = logits.slice();
    }
    const value = { data: logits, dims: output.dims, timings: { ...runner.timings }, input: data.buffer };
    return { value, transfer: [logits.buffer, data.buffer] };
  },
  async release() {
    await runner?.release();
    runner = null;
    return { value: true };
  },
};

self.onmessage = async ({ data: message }) => {
  const { type, id } = message;
  try {
    const reply = await handlers[type](message);
    if (id !== undefined) self.postMessage({ id, value: reply.value }, reply.transfer ?? []);
  } catch (error) {
    if (id !== undefined) self.postMessage({ id, error: String(error?.message ?? error) });
  }
};
