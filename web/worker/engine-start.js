// Starting the engine, once per worker: build-info.json, the backend and model file for this
// device, every download at once under one byte count, Python (Pyodide) and the model session.
// Resolves with what the jobs need ({py, browser, runner, warmUp, skipWarmUp}) after posting
// {type: 'ready', info}; progress goes out as {type: 'progress', ...} (the events of
// lib/engine-protocol.js).
import { chooseBackend, probeWebGPU, WEBGPU_PRECISIONS } from './backend-choice.js';
import { fetchVerified, hasWebCrypto, webCryptoSha256 } from './fetch-verified.js';
import { loadModelFile } from './model-cache.js';
import { openModelRunner } from './model-runner.js';
import { startModelWorker } from './model-worker-runner.js';
import { pythonStart, startPython } from './python-runtime.js';

const SITE = new URL('../', import.meta.url);
// The WASM warm-up after ready: 128x128 blank inputs, up to 3 runs. Measured in the page
// (2 threads, a 512x512 photo picked 3 s after ready, against the photos after it): with no
// warm-up the first photo took 2.2x a later one on a first visit and 2-2.7x on a relaunch (none
// on a reload: the renderer keeps the compiled code); one 512x512 run (as before) cost 1.1-1.3 s
// there; three 128x128 runs cost 0.2-0.6 s and left the photo at 0.9-1.15x.
const WASM_WARM_UP = { side: 128, runs: 3 };

/**
 * @param {object} options  the 'init' message: {model?, precision?, backend?, webgpuFail?, controlled?, snapshot?,
 *     buildInfo?, pageOrigin?}; buildInfo: build-info.json's text, when the page has read it (else
 *     fetched here); pageOrigin: the page's performance.timeOrigin
 * @param {(message: object, transfer?: Transferable[]) => void} post  to the page
 * @returns {Promise<{py, browser, runner, warmUp: (photoWaiting?: () => boolean) => Promise<void>, skipWarmUp: () => void}>}
 */
export async function startEngine({ precision, model: modelId, backend, webgpuFail, controlled, snapshot, buildInfo: text, pageOrigin }, post) {
  const progress = (stage, message, loaded, total) => post({ type: 'progress', stage, message, loaded, total });
  const t0 = performance.now();
  const startup = {}; // ms per start-up stage, reported with 'ready'
  const record = (name, ms) => (startup[name] = ms);
  const stage = (name, since) => record(name, performance.now() - since);

  // Its text keys Python's start-up snapshot: any change to the build invalidates it. The page
  // reads it once and sends it along; a caller that does not (the widget) leaves it to us.
  const buildInfoText = typeof text === 'string' ? text : await (await fetch(new URL('build-info.json', SITE))).text();
  const buildInfo = JSON.parse(buildInfoText);
  const models = buildInfo.models ?? { [buildInfo.model.id]: buildInfo.model };
  if (modelId && !models[modelId]) throw new Error(`this build has no model ${modelId} (has: ${Object.keys(models)})`);
  const model = models[modelId] ?? buildInfo.model;
  if (precision && !model.precisions[precision]) {
    throw new Error(`this build has no ${precision} model (has: ${Object.keys(model.precisions)})`);
  }
  const base = new URL(model.path, SITE);
  const pyodideDir = new URL('vendor/pyodide/', SITE);
  const ort = buildInfo.onnxruntime_web;

  // The backend and model file for this device (backend-choice.js); only their files download.
  const precisions = Object.keys(model.precisions); // the build's default first
  const runtimes = ort.backends;
  const probe =
    backend === 'wasm'
      ? { summary: { gpu: Boolean(self.navigator.gpu), adapter: null } }
      : await probeWebGPU(self.navigator.gpu, { fail: webgpuFail });
  const choice = chooseBackend({ probe: probe.summary, precisions, webgpuShipped: Boolean(runtimes.webgpu), override: { backend, precision } });
  // A WASM session is made in a worker of its own (model-worker-runner.js says why), started
  // now so that its onnxruntime-web bundle loads while the model file is read. On a return
  // visit served by the service worker, it reads the cached model file itself and creates the
  // session at once, off this thread (model-worker.js). For WebGPU it starts only if WASM has
  // to take over.
  let modelWorker = null;
  const wasmWorker = () => {
    try {
      return (modelWorker ??= startModelWorker());
    } catch (error) {
      console.warn(`no worker for the model (${error.message}); the session runs in the engine's worker`);
      return null; // a browser without nested workers
    }
  };
  if (choice.backend === 'wasm') {
    const file = model.files[sessionFile(model, 'wasm', choice.precision)];
    // Not served by the service worker, onnxruntime's binary is checked here first (load()).
    const cached = controlled ? { choice, file: { size: file.size, sha256: file.sha256 } } : undefined;
    wasmWorker()?.prepare(new URL(runtimes.wasm.module, SITE).href, cached);
  }

  // A page opened over plain http on a LAN address has no Web Crypto; it still verifies
  // every file, with Python's hashlib once Pyodide is up.
  let python = null;
  const sha256 = hasWebCrypto ? webCryptoSha256 : async (data) => pythonSha256(await python, data);

  // Downloads, all at once, under one byte count. Served by the service worker (a return visit,
  // or offline) the app's files are local and were verified when it cached them; on a first
  // visit, reading Pyodide's files here puts them in the HTTP cache with byte progress, and
  // Pyodide then reads them from there.
  const bytes = byteProgress(progress, controlled ? 'Loading' : 'Downloading the app and the model');
  const pythonFiles = controlled ? [] : Object.entries(buildInfo.pyodide.files ?? {});
  for (const [name, size] of pythonFiles) bytes.expect(`py:${name}`, size);

  const tPython = performance.now();
  const cached = pythonFiles.map(([name]) => [name, warmHttpCache(new URL(name, pyodideDir), bytes.track(`py:${name}`))]);
  // Python starts once its core is in; the wheels (loaded later in its start) keep coming.
  const pythonCore = Promise.all(cached.filter(([name]) => !name.endsWith('.whl')).map(([, p]) => p));
  const pythonFilesCached = Promise.all([pythonCore, ...cached.map(([, p]) => p)]);
  python = pythonCore.then(() =>
    startPython((text) => progress('python', text), { cacheKey: buildInfoText, snapshot: snapshot !== false }).then((py) => {
      stage('python', tPython);
      return py;
    }),
  );

  // What a backend needs: the model file (IndexedDB, else the network) and its onnxruntime-web
  // runtime. onnxruntime-web loads its WASM by URL (compiled while streaming, and from V8's code
  // cache on later visits); without the service worker, the bytes are checked here first.
  // Called again if WebGPU fails and WASM takes over.
  let cache = null;
  const load = async ({ backend: name, precision: wanted }) => {
    const file = sessionFile(model, name, wanted);
    const runtime = runtimes[name];
    const tModel = performance.now();
    bytes.expect(`model:${file}`, model.files[file].size);
    const worker = name === 'wasm' ? wasmWorker() : null;
    const runtimeFor = (modelBytes) => ({
      modelBytes,
      runtime: { module: new URL(runtime.module, SITE).href, adapter: probe.adapter, onStage: record, worker },
    });
    // The model's worker may have read its own verified copy (prepare above): nothing to send.
    const own = await worker?.fromCache(model.files[file].sha256);
    if (own) {
      bytes.done(`model:${file}`);
      record('model_from_cache', own.ms);
      startup.model_read_in = 'model'; // the worker that read the cached file
      cache = { on: true, source: 'cache' };
      progress('session', `Preparing the model (WASM, ${wanted})`);
      return runtimeFor(null);
    }
    if (!controlled) bytes.expect(`runtime:${name}`, runtime.binary.size);
    const [onnx] = await Promise.all([
      loadModelFile({
        url: new URL(file, base),
        name: `${model.id}/${file}`,
        ...model.files[file],
        // Every weight file of this build a session may load (?model=, ?precision=): keep those.
        keep: Object.values(models).flatMap(sessionFiles).map(([m, f]) => m.files[f].sha256),
        onBytes: bytes.track(`model:${file}`),
        digest: sha256,
        download: (url, expected, onBytes) => fetchVerified(url, expected, onBytes, sha256),
      }),
      controlled ? null : fetchVerified(new URL(runtime.binary.path, SITE), runtime.binary, bytes.track(`runtime:${name}`), sha256),
    ]);
    bytes.done(`model:${file}`);
    stage(onnx.source === 'cache' ? 'model_from_cache' : 'model_download', tModel);
    startup.model_read_in = 'engine';
    cache = { ...onnx.cache, source: onnx.source };
    if (onnx.cache.note) progress('cache', onnx.cache.note);
    progress('session', `Preparing the model (${name === 'webgpu' ? 'WebGPU' : 'WASM'}, ${wanted})`);
    return runtimeFor(onnx.bytes);
  };
  const configs = Promise.all(
    ['config.json', 'preprocessor_config.json'].map((name) =>
      fetchVerified(new URL(name, base), model.files[name], undefined, sha256).then((b) => new TextDecoder().decode(b)),
    ),
  );
  // Told when WebGPU fails later: the page says so in one line.
  const describe = (c) => ({ ...c, file: sessionFile(model, c.backend, c.precision) });
  const onSwitch = (now, message) => post({ type: 'backend', message, choice: describe(now) }); // an event (engine-protocol.js)

  // The session is created while Python may still be starting: for WASM in the model's worker.
  const tSession = performance.now();
  const [runner, [config, preprocessor]] = await Promise.all([
    openModelRunner({ choice, precisions, load, onSwitch, testFail: webgpuFail }),
    configs,
    pythonFilesCached,
  ]);
  stage('model_and_session', tSession);
  const py = await python;
  const browser = py.pyimport('sceneseg.browser');
  const file = model.precisions[runner.choice.precision];
  const modelInfo = { id: model.id, file, sha256: model.files[file].sha256, precision: runner.choice.precision };
  browser.init(runner, config, preprocessor, JSON.stringify(modelInfo));

  // onnxruntime-web's first runs are slow: V8 has yet to tier up its kernels (a first visit, a
  // relaunch) and onnxruntime sets up its memory. That warm-up is not part of start-up: 'ready'
  // goes out as soon as a photo can be taken, and the worker's queue runs warmUp() only if no
  // photo is waiting then; a waiting photo's own run warms the session, and a blank run first
  // would only delay its labels. On WASM the warm-up is a few small runs (WASM_WARM_UP), and it
  // stops between two as soon as a photo is waiting: that photo waits one small run at most.
  // On WebGPU it is one run at the model's size (its shaders are made per shape); never on a
  // software GPU adapter, forced by the visitor: there a run takes minutes.
  const warmUp = async (photoWaiting = () => false) => {
    if (runner.warmUp !== false) {
      const tWarm = performance.now();
      const { side, runs } = runner.choice.backend === 'wasm' ? WASM_WARM_UP : { side: null, runs: 1 };
      let done = 0;
      while (done < runs && !photoWaiting()) {
        await browser.warm_up(side);
        done++;
      }
      post({ type: 'warmed', ms: performance.now() - tWarm, runs: done });
    }
    runner.armTestFailure?.(); // tests of the WebGPU fallback: fail the first photo's run
  };
  const skipWarmUp = () => runner.armTestFailure?.();
  stage('total', t0);
  startup.session_worker = runner.worker; // 'model': the session in its own worker
  // When this start began, on the page's clock (ms since its navigation): the time before it
  // is the page's and the worker's own loading.
  const workerCreatedAt = performance.timeOrigin - (pageOrigin ?? performance.timeOrigin);
  startup.began_at = workerCreatedAt + t0;
  startup.worker_created_at = workerCreatedAt;

  const info = {
    model: { id: model.id, name: model.name, standin: model.standin, description: model.description },
    precision: runner.choice.precision,
    file,
    backend: runner.name,
    choice: describe(runner.choice), // {backend, precision, file, reason}
    threads: runner.threads ?? 0,
    isolated: self.crossOriginIsolated,
    version: buildInfo.version,
    cache,
    startup,
    python: { ...pythonStart }, // {mode: 'snapshot'|'normal', ms, steps, fallback?}
    versions: { sceneseg: buildInfo.sceneseg, pyodide: buildInfo.pyodide.version, onnxruntime_web: ort.version },
  };
  post({ type: 'ready', info });
  return { py, browser, runner, warmUp, skipWarmUp };
}

/**
 * The file a backend's session loads for a precision: for WASM the ORT-format copy where the
 * build made one (build: sitebuild/ort_format, the same graph, optimised, a faster start), else
 * the precision's .onnx.
 */
function sessionFile(model, backend, precision) {
  return (backend === 'wasm' && model.wasm_files?.[precision]) || model.precisions[precision];
}

/** [model, file] for every file a session of this model may load, on either backend. */
function sessionFiles(model) {
  const precisions = Object.keys(model.precisions);
  const files = precisions.map((p) => sessionFile(model, 'wasm', p));
  files.push(...precisions.filter((p) => WEBGPU_PRECISIONS.includes(p)).map((p) => sessionFile(model, 'webgpu', p)));
  return [...new Set(files)].map((file) => [model, file]);
}

/**
 * Byte progress over several downloads at once: the total is known up front (build-info.json
 * lists every file's size), so the bar moves smoothly from the first byte to the last.
 */
function byteProgress(progress, message) {
  const files = new Map(); // key -> [loaded, total]
  let shown = 0;
  const report = () => {
    let loaded = 0;
    let total = 0;
    for (const [l, t] of files.values()) {
      loaded += l;
      total += t;
    }
    // Throttled to whole percents: the page (and a screen reader) need not hear every chunk.
    const percent = Math.floor((100 * loaded) / total);
    if (percent !== shown || loaded === total) {
      shown = percent;
      progress('download', message, loaded, total);
    }
  };
  return {
    expect(key, size) {
      files.set(key, [0, size]);
    },
    track: (key) => (loaded) => {
      files.get(key)[0] = loaded;
      report();
    },
    done(key) {
      const entry = files.get(key);
      entry[0] = entry[1];
      report();
    },
  };
}

/** Read a response to the end (it lands in the HTTP cache), reporting bytes; keeps nothing. */
async function warmHttpCache(url, onBytes) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const reader = response.body.getReader();
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    loaded += value.length;
    onBytes(loaded);
  }
}

let pythonHexdigest = null; // compiled once, kept for the worker's life

function pythonSha256(py, data) {
  pythonHexdigest ??= py.runPython('import hashlib\nlambda data: hashlib.sha256(data.to_bytes()).hexdigest()');
  return pythonHexdigest(data);
}
