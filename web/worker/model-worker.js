// The model's own worker: onnxruntime-web's WASM session, apart from Python. Started by the
// engine's worker (model-worker-runner.js is its other end), so that creating the session and
// Python's start or restore, both long and synchronous, run on two cores at once instead of
// taking turns on one thread. Only the WASM backend lives here; a WebGPU session stays in the
// engine's worker, next to the adapter it was probed with.
//
// On a return visit the session does not wait for the engine's thread at all: 'prepare' names
// the model file, and this worker reads its verified copy from IndexedDB and creates the session
// at once, while the engine's worker restores Python (measured, round 9: see
// docs/measurements.md). When there is no good copy, the engine's worker downloads the file as
// before and sends it with 'open'.
//
// Messages (engine's worker -> here): prepare {module, cached?: {choice, file: {size, sha256}}},
// fromCache {id}, open {id, modelBytes (null: the cached copy), choice, module},
// run {id, data, dims, into?}, release {id}; replies: {id, value} or {id, error}. A run hands
// back its input's buffer (`input`) and writes the logits into `into` (the last run's logits'
// buffer) when they fit: the two buffers go back and forth instead of new ones each run.
import { hasWebCrypto, webCryptoSha256 } from './fetch-verified.js';
import { readCachedModel } from './model-cache.js';
import { createModelRunner } from './model-runner.js';

let runner = null;
let early = null; // {found, session, stages}: the session from the cached file (openFromCache)

const handlers = {
  // Sent as soon as the backend is known: the bundle loads (and the cached file is read) meanwhile.
  // (createModelRunner imports it again: the module map gives the same one, its wait measured.)
  prepare: ({ module, cached }) => {
    void import(module).catch(() => {});
    if (cached && hasWebCrypto) early = openFromCache(cached, module);
  },
  // Whether the session is being made from a verified cached copy: {ms} (the read and check), or null.
  async fromCache() {
    return { value: early ? await early.found : null };
  },
  async open({ modelBytes, choice, module }) {
    const stages = {};
    if (modelBytes) {
      runner = await createModelRunner(modelBytes, choice, { module, onStage: (name, t) => (stages[name] = t) });
    } else {
      if (!early || !(await early.found)) throw new Error('no cached model file was read here');
      runner = await early.session;
      Object.assign(stages, early.stages);
    }
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

/** Read the cached model file (verified) and, if it is good, create the session from it. */
function openFromCache({ choice, file }, module) {
  const stages = {};
  const reading = performance.now();
  const bytes = readCachedModel({ ...file, digest: webCryptoSha256 });
  const session = bytes.then((data) => data && createModelRunner(data, choice, { module, onStage: (name, t) => (stages[name] = t) }));
  session.catch(() => {}); // surfaces in 'open'
  const found = bytes.then((data) => (data ? { ms: performance.now() - reading } : null));
  return { found, session, stages };
}

self.onmessage = async ({ data: message }) => {
  const { type, id } = message;
  try {
    const reply = await handlers[type](message);
    if (id !== undefined) self.postMessage({ id, value: reply.value }, reply.transfer ?? []);
  } catch (error) {
    if (id !== undefined) self.postMessage({ id, error: String(error?.message ?? error) });
  }
};
