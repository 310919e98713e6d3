// onnxruntime-web sessions, wrapped as the runner that Python's OnnxRuntimeWebBackend calls.
//
// Two layers:
// - createModelRunner(modelBytes, choice, runtime): one session on one backend ('wasm' or
//   'webgpu'). Each backend has its own onnxruntime-web bundle, imported only when chosen,
//   so a visitor downloads only the runtime the backend needs. A WASM session is made in the
//   model's own worker when the engine gives one (model-worker.js, which calls this too).
// - openModelRunner(...): the runner Python holds for the worker's life. It starts on the
//   chosen backend and, when WebGPU fails (session creation, a run, a lost device), switches
//   to WASM for this run and every later one: the failed run is done again on WASM with the
//   same input, so the photo still gets its result.
import { describeAdapter, fallbackChoice } from './backend-choice.js';

const ORT_DIR = new URL('../vendor/onnxruntime-web/', import.meta.url).href;

// What onnxruntime-web asks for when it creates the device itself: the adapter's limits for
// what its kernels size (buffers, workgroups), and the optional features it can use.
const GPU_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
];
const GPU_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'];

/**
 * One onnxruntime-web session.
 * @param {Uint8Array} modelBytes  verified ONNX file
 * @param {{backend: 'wasm'|'webgpu', precision: string}} choice
 * @param {{module: string, wasmBinary?: Uint8Array, adapter?: GPUAdapter,
 *          outputLocation?: 'cpu'|'gpu-buffer', testFail?: string,
 *          onStage?: (name: string, ms: number) => void, worker?: object}} runtime
 *     module: URL of the bundle; wasmBinary: its verified WASM binary (without it, the bundle
 *     fetches its binary by URL from vendor/onnxruntime-web/); adapter: for WebGPU;
 *     testFail: 'session' makes session creation fail (tests of the fallback only);
 *     onStage: told how long importing the bundle and creating the session took;
 *     worker: the model's worker (model-worker-runner.js), where a WASM session is then made
 */
export async function createModelRunner(modelBytes, choice, runtime) {
  // WASM in the model's own worker (model-worker-runner.js), where the engine has started one;
  // in this thread if that worker itself failed (its script did not load, it crashed).
  if (choice.backend === 'wasm' && runtime.worker) {
    try {
      return await runtime.worker.open(modelBytes, choice, runtime);
    } catch (error) {
      if (!runtime.worker.broken || !modelBytes) throw error; // without bytes here, no second try
      console.warn(`${error.message}; the session runs in the engine's worker`);
    }
  }
  const importing = performance.now();
  const ort = await import(runtime.module);
  runtime.onStage?.('runtime_import', performance.now() - importing);
  ort.env.wasm.wasmPaths = ORT_DIR;
  if (runtime.wasmBinary) ort.env.wasm.wasmBinary = runtime.wasmBinary;
  // Threads need a cross-origin isolated page (COOP + COEP); otherwise one thread, no warning.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.wasm.proxy = false; // we already are a worker
  return choice.backend === 'webgpu'
    ? webgpuRunner(ort, modelBytes, choice, runtime)
    : wasmRunner(ort, modelBytes, choice, runtime);
}

async function wasmRunner(ort, modelBytes, { precision }, { onStage }) {
  const creating = performance.now();
  const session = await ort.InferenceSession.create(modelBytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  // The first session of a worker includes starting onnxruntime's WASM and its threads.
  onStage?.('session_create', performance.now() - creating);
  const threads = ort.env.wasm.numThreads;
  const timings = {};
  return {
    backend: 'wasm',
    name: `wasm (${precision}, ${threads} thread${threads > 1 ? 's' : ''})`,
    threads,
    worker: self.name === 'model' ? 'model' : 'engine', // which worker holds the session
    timings,
    run: (pixelsProxy) => runSession(ort, session, pixelsProxy, timings),
    release: () => session.release(),
  };
}

async function webgpuRunner(ort, modelBytes, { precision }, { adapter, outputLocation = 'cpu', testFail, onStage }) {
  const creating = performance.now();
  // Our own device, so that we see it get lost and can free all its memory (destroy()).
  const device = await adapter.requestDevice({
    requiredFeatures: GPU_FEATURES.filter((f) => adapter.features.has(f)),
    requiredLimits: Object.fromEntries(GPU_LIMITS.map((k) => [k, adapter.limits[k]])),
  });
  let lost = null; // GPUDeviceLostInfo once lost
  let runner = null;
  const lostPromise = device.lost.then((info) => {
    lost = info;
    runner?.onLost?.(info);
    throw new Error(`the GPU device was lost (${info.reason}: ${info.message || 'no message'})`);
  });
  lostPromise.catch(() => {}); // observed by run() when it races it
  let session;
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      executionProviders: [
        {
          name: 'webgpu',
          device,
          // Tests only: an option value onnxruntime-web itself rejects, so creation fails in
          // onnxruntime-web, as a real failure would.
          ...(testFail === 'session' ? { storageBufferCacheMode: 'forced-failure' } : {}),
        },
      ],
      graphOptimizationLevel: 'all',
      preferredOutputLocation: outputLocation,
    });
  } catch (error) {
    device.destroy();
    throw error;
  }
  onStage?.('session_create', performance.now() - creating); // the device's creation included
  runner = {
    backend: 'webgpu',
    name: `webgpu (${precision})`,
    // A software adapter (only when WebGPU is forced) takes minutes per run: a warm-up run
    // would only delay the first photo. On a real GPU it compiles the shaders ahead.
    warmUp: !describeAdapter(adapter).fallback,
    device,
    timings: {},
    onLost: null,
    failNext: null, // tests: 'run' | 'lost' makes the next run fail that way
    get lost() {
      return lost;
    },
    async run(pixelsProxy) {
      if (lost) throw new Error(`the GPU device was lost (${lost.reason})`);
      const fail = runner.failNext;
      runner.failNext = null;
      if (fail === 'lost') device.destroy(); // a real loss: the device is gone mid-job
      const names = fail === 'run' ? { input: 'forced-run-failure' } : {};
      return Promise.race([runSession(ort, session, pixelsProxy, runner.timings, names), lostPromise]);
    },
    async release() {
      runner.onLost = null; // our own destroy() below is no failure
      await session.release();
      device.destroy(); // frees every buffer onnxruntime-web still caches on it
    },
  };
  return runner;
}

/**
 * Called from Python with a PyProxy of a float32 numpy array [1, 3, H, W].
 * getBuffer() gives a view into Pyodide's memory (no copy); onnxruntime copies it once.
 * An output left on the GPU ('gpu-buffer') is downloaded here, timed on its own.
 */
async function runSession(ort, session, pixelsProxy, timings = {}, names = {}) {
  const buffer = pixelsProxy.getBuffer('f32');
  try {
    const input = new ort.Tensor('float32', buffer.data, buffer.shape);
    const inputName = names.input ?? session.inputNames[0];
    let start = performance.now();
    const outputs = await session.run({ [inputName]: input });
    timings.session_run = performance.now() - start;
    const logits = outputs[session.outputNames[0]];
    if (logits.location === 'gpu-buffer') {
      start = performance.now();
      const data = await logits.getData(true); // download, then free the GPU buffer
      timings.readback = performance.now() - start;
      return { data, dims: logits.dims };
    }
    return { data: logits.data, dims: logits.dims };
  } finally {
    buffer.release();
  }
}

/**
 * The runner Python holds: the chosen backend, and WASM behind it if WebGPU fails.
 * @param {object} args
 * @param {{backend: string, precision: string, reason: string}} args.choice
 * @param {string[]} args.precisions          the build's model files, default first
 * @param {(choice) => Promise<{modelBytes: Uint8Array, runtime: object}>} args.load
 *     downloads (and verifies) the model file and runtime a choice needs
 * @param {(choice, message: string) => void} args.onSwitch   told once WebGPU is given up
 * @param {string} [args.testFail]   'session' | 'run' | 'lost' (tests of the fallback)
 * @returns {Promise<object>}  the runner; runner.choice is the backend in use and why
 */
export async function openModelRunner({ choice, precisions, load, onSwitch, testFail }) {
  let current;
  let switching = null; // Promise while moving to WASM
  let armed = testFail === 'run' || testFail === 'lost' ? testFail : null;

  async function start(target) {
    const { modelBytes, runtime } = await load(target);
    return createModelRunner(modelBytes, target, { ...runtime, testFail });
  }

  function giveUpWebGPU(why) {
    if (switching || current.backend !== 'webgpu') return switching;
    const failed = current;
    choice = fallbackChoice(precisions, `WebGPU failed (${why}); switched to WASM`);
    onSwitch(choice, `WebGPU stopped working (${why}); switched to WASM (${choice.precision}).`);
    switching = start(choice)
      .then((wasm) => {
        current = wasm;
        return failed.release().catch(() => {}); // a lost device has nothing left to free
      })
      .finally(() => {
        switching = null;
      });
    return switching;
  }

  try {
    current = await start(choice);
  } catch (error) {
    if (choice.backend !== 'webgpu') throw error;
    choice = fallbackChoice(precisions, `the WebGPU session could not be created (${firstLine(error)}); using WASM`);
    current = await start(choice);
  }
  if (current.backend === 'webgpu') current.onLost = (info) => giveUpWebGPU(`device lost: ${info.reason}`);

  const runner = {
    get name() {
      return current.name;
    },
    get threads() {
      return current.threads ?? 0;
    },
    /** Which worker holds the session: 'model' (its own) or 'engine' (Python's). */
    get worker() {
      return current.worker ?? 'engine';
    },
    get choice() {
      return choice;
    },
    /** Whether a warm-up run pays off on this backend (see webgpuRunner). */
    get warmUp() {
      return current.warmUp ?? true;
    },
    /** Per-stage times of the latest run (session_run, readback where measured). */
    get timings() {
      return current.timings;
    },
    /** Tests: arm the failure asked for (the worker calls this after the warm-up run). */
    armTestFailure() {
      if (armed && current.backend === 'webgpu') current.failNext = armed;
      armed = null;
    },
    async run(pixelsProxy) {
      if (switching) await switching;
      const used = current;
      for (const key of Object.keys(used.timings)) delete used.timings[key];
      try {
        return await used.run(pixelsProxy);
      } catch (error) {
        if (used.backend !== 'webgpu') throw error;
        await giveUpWebGPU(firstLine(error));
        return current.run(pixelsProxy); // the same input again, on WASM
      }
    },
    release: () => current.release(),
  };
  return runner;
}

const firstLine = (error) => String(error?.message ?? error).trim().split('\n')[0].slice(0, 200);
