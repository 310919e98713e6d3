// The engine's end of the model's own worker (model-worker.js): a WASM runner with the same
// face as model-runner.js's (name, threads, timings, run, release) whose session lives there.
//
// Why a worker of its own: creating the session (0.4-0.9 s: onnxruntime's WASM instantiated, the
// graph loaded and optimised) and Python's start (a snapshot's restore, or a first visit's
// normal start) are both synchronous work; on one thread they take turns, on two they overlap.
// onnxruntime-web's own `env.wasm.proxy` does not apply here: it works only in a page.
//
// A run copies its input out of Pyodide's memory (3 MB at 512x512) and hands the copy over; the
// logits come back handed over too. Both buffers go back and forth again for the next run (the
// logits' once Python has copied them, which it does before it runs the model again): a 12 MP
// photo in detail is 12+ runs, and a new 13 MB pair each would lie as garbage in this worker
// until V8 collects it (~60 MB at a time, measured at the renderer's peak).

/**
 * Start the model's worker; `prepare(module, cached)` may follow at once, `open(...)` once the
 * model file is read (or, where `fromCache` says the worker has read it itself, without it).
 */
export function startModelWorker() {
  // Named 'model': the session reports where it runs (model-runner.js).
  const worker = new Worker(new URL('./model-worker.js', import.meta.url), { type: 'module', name: 'model' });
  const pending = new Map(); // id -> [resolve, reject]
  let nextId = 0;
  let broken = null; // the worker's own failure (its script did not load, it crashed)
  let cachedFile = null; // sha256 of the file the worker reads from IndexedDB itself
  const call = (type, fields = {}, transfer = []) =>
    new Promise((resolve, reject) => {
      if (broken) return reject(broken);
      const id = ++nextId;
      pending.set(id, [resolve, reject]);
      worker.postMessage({ type, id, ...fields }, transfer);
    });
  worker.onmessage = ({ data: { id, value, error } }) => {
    const [resolve, reject] = pending.get(id) ?? [];
    pending.delete(id);
    if (error !== undefined) reject?.(new Error(error));
    else resolve?.(value);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    broken = new Error(`the model's worker failed (${event.message || 'it could not start'})`);
    for (const [, reject] of pending.values()) reject(broken);
    pending.clear();
  };

  return {
    /** The worker's own failure, if it failed: the caller then makes the session elsewhere. */
    get broken() {
      return broken;
    },
    /**
     * Import onnxruntime-web's bundle there now. With `cached` ({choice, file: {size, sha256}}),
     * the worker also reads that file's verified copy from IndexedDB and creates the session.
     */
    prepare(module, cached) {
      cachedFile = cached?.file.sha256 ?? null;
      worker.postMessage({ type: 'prepare', module, cached });
    },
    /**
     * Whether the worker is making the session from its own verified copy of this file:
     * {ms} (its read and check), or null (then `open` needs the bytes).
     */
    async fromCache(sha256) {
      if (sha256 !== cachedFile) return null;
      return call('fromCache').catch(() => null);
    },
    /**
     * Create the session there.
     * @returns {Promise<object>} the runner
     */
    async open(modelBytes, choice, { module, onStage }) {
      // modelBytes null: the worker's own cached copy (fromCache). Copied (4 MB, a few ms), not
      // handed over: if the worker fails, the bytes are still here.
      const { name, threads, worker: where, stages } = await call('open', { modelBytes, choice, module });
      for (const [stage, ms] of Object.entries(stages)) onStage?.(stage, ms);
      const timings = {};
      let spareInput = null; // the last run's input buffer, back from the worker
      let spareLogits = null; // the last run's logits' buffer (Python has copied them by now)
      return {
        backend: 'wasm',
        name,
        threads,
        worker: where,
        timings,
        async run(pixelsProxy) {
          const buffer = pixelsProxy.getBuffer('f32');
          let data;
          let dims;
          try {
            // A view into Pyodide's memory: copied (into the last input's buffer if it fits),
            // never handed over.
            const fits = spareInput?.byteLength === buffer.data.byteLength;
            data = fits ? new Float32Array(spareInput) : new Float32Array(buffer.data.length);
            data.set(buffer.data);
            dims = [...buffer.shape];
          } finally {
            buffer.release();
          }
          const into = spareLogits;
          spareInput = spareLogits = null;
          const output = await call('run', { data, dims, into }, into ? [data.buffer, into] : [data.buffer]);
          Object.assign(timings, output.timings);
          spareInput = output.input;
          spareLogits = output.data.buffer;
          return { data: output.data, dims: output.dims };
        },
        async release() {
          await call('release').catch(() => {});
          worker.terminate();
        },
      };
    },
  };
}
