// The worker: Python (Pyodide) + onnxruntime-web, off the UI thread.
//
// Messages in:   {type: 'init', model?, precision?, backend?, webgpuFail?, controlled?, snapshot?}
//                                                       model: an id of build-info's models;
//                                                       backend, webgpuFail: backend-choice.js;
//                                                       controlled: the page is served by the
//                                                       service worker (files local, verified)
//                {type: 'segment', id, file: Blob, confidence?: boolean|'after'}   accepted at any time: jobs
//                                                       that arrive before the engine is ready wait
//                                                       for it. confidence true: in the result;
//                                                       'after': computed after the result is
//                                                       posted, between other jobs
//                {type: 'export', id, kind, options}    encode the latest result (sceneseg.exports)
//                {type: 'cancel', id}                   the caller no longer wants job id
//                {type: 'cache', id, action: 'list'|'clear'}   the model cache (IndexedDB)
// Messages out:  {type: 'progress', stage, message, loaded?, total?}
//                                                       stage 'backend' (+ choice): WebGPU
//                                                       failed and WASM took over
//                {type: 'ready', info}                  after the warm-up run: a photo picked now
//                                                       gets steady-state speed
//                {type: 'result', id, result}           result.labels and result.overlay
//                                                       (an ImageBitmap) are transferred
//                {type: 'labels-png', id, png}          png is transferred
//                {type: 'confidence', id, confidence?, classes?, ms?, dropped?, error?}
//                                                       for confidence 'after': the map (transferred)
//                                                       and the classes with their mean confidence;
//                                                       dropped: a newer photo came first
//                {type: 'export', id, data, mime, ms}   data (Uint8Array) is transferred
//                {type: 'cache', id, entries?, error?}
//                {type: 'error', id?, message, kind}    kind: 'input' (bad file) | 'runtime'
import { chooseBackend, probeWebGPU } from './backend-choice.js';
import { fetchVerified, hasWebCrypto, webCryptoSha256 } from './fetch-verified.js';
import { clearCachedModels, listCachedModels, loadModelFile } from './model-cache.js';
import { openModelRunner } from './model-runner.js';
import { overlayBitmap } from './overlay-image.js';
import { pythonStart, saveSnapshotWhenIdle, startPython } from './python-runtime.js';
import { acceptFrame, segmentFrame } from './video-frames.js';
import { batchMessage } from './batch-zip.js';

const SITE = new URL('../', import.meta.url);
let ready = null; // Promise<{py, browser}>: settles after the warm-up run
let queue = Promise.resolve(); // jobs run one at a time, in order
const cancelled = new Set(); // ids of jobs whose caller has moved on

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'init') {
    if (ready) return;
    ready = init(message).catch((error) => {
      post({ type: 'error', message: `Could not start: ${error.message}`, kind: 'runtime' });
      throw error;
    });
    // Once ready, store Python's start-up snapshot for the next visit (python-snapshot.js). It
    // keeps this thread busy for a moment (copying and hashing ~50 MB, ~0.1–0.2 s), so it waits
    // until no photo has been asked for in a second: a photo picked right after ready never
    // waits for it, and a visitor who leaves soon after still gets a fast next visit.
    ready.then(
      () => {
        lastJob = Math.max(lastJob, performance.now()); // idle counts from ready
        return whenIdle(saveSnapshotWhenIdle);
      },
      () => {},
    );
  } else if (message.type === 'segment') {
    confidenceFor = null; // a newer photo: the older one's confidence is no longer wanted
    const received = (lastJob = performance.now());
    queue = queue
      .then(() => segment(message, received))
      .catch(() => {})
      .finally(() => cancelled.delete(message.id));
  } else if (message.type === 'export') {
    // In the queue: an export asked for right after a segment waits for its result.
    queue = queue.then(() => exportFile(message)).catch(() => {});
  } else if (message.type === 'cancel') {
    cancelled.add(message.id);
    if (message.id === confidenceFor) confidenceFor = null;
  } else if (message.type === 'cache') {
    cacheRequest(message);
  } else if (message.type === 'segment-frame' || message.type.startsWith('batch-')) {
    lastJob = performance.now(); // the snapshot's storing waits for video and batches too
    extraJob(message);
  }
};

// Video frames and batches (web/worker/video-frames.js, batch-zip.js) share the job queue
// with photos. A frame that arrives while an older one waits replaces it.
function extraJob(message) {
  if (message.type === 'segment-frame') acceptFrame(message, post);
  queue = queue
    .then(async () => {
      if (!ready) throw new Error('The segmentation engine did not start; reload the page to try again.');
      const python = await ready;
      if (message.type === 'segment-frame') await segmentFrame(message.id, python, post);
      else await batchMessage(message, python, post);
    })
    .catch((error) => {
      const last = String(error.message).trim().split('\n').pop();
      post({ type: 'error', id: message.id, message: last, kind: 'runtime' });
    });
}

let lastJob = 0; // when the latest photo was asked for
const IDLE_MS = 1000;

/** Run `task` once the job queue is empty and no photo has been asked for in IDLE_MS. */
async function whenIdle(task) {
  for (;;) {
    const since = performance.now() - lastJob;
    if (since >= IDLE_MS) {
      const pending = queue;
      await pending;
      if (pending === queue && performance.now() - lastJob >= IDLE_MS) return task();
    } else {
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS - since));
    }
  }
}

function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

function progress(stage, message, loaded, total) {
  post({ type: 'progress', stage, message, loaded, total });
}

/**
 * Byte progress over several downloads at once: the total is known up front (build-info.json
 * lists every file's size), so the bar moves smoothly from the first byte to the last.
 */
function byteProgress(message) {
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

async function init({ precision, model: modelId, backend, webgpuFail, controlled, snapshot }) {
  const t0 = performance.now();
  const startup = {}; // ms per start-up stage, reported with 'ready'
  const stage = (name, since) => (startup[name] = performance.now() - since);

  // Its text keys Python's start-up snapshot: any change to the build invalidates it.
  const buildInfoText = await (await fetch(new URL('build-info.json', SITE))).text();
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

  // A page opened over plain http on a LAN address has no Web Crypto; it still verifies
  // every file, with Python's hashlib once Pyodide is up.
  let python = null;
  const sha256 = hasWebCrypto ? webCryptoSha256 : async (data) => pythonSha256(await python, data);

  // Downloads, all at once, under one byte count. Served by the service worker (a return visit,
  // or offline) the app's files are local and were verified when it cached them; on a first
  // visit, reading Pyodide's files here puts them in the HTTP cache with byte progress, and
  // Pyodide then reads them from there.
  const bytes = byteProgress(controlled ? 'Loading' : 'Downloading the app and the model');
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
    const file = model.precisions[wanted];
    const runtime = runtimes[name];
    const tModel = performance.now();
    bytes.expect(`model:${file}`, model.files[file].size);
    if (!controlled) bytes.expect(`runtime:${name}`, runtime.binary.size);
    const [onnx] = await Promise.all([
      loadModelFile({
        url: new URL(file, base),
        name: `${model.id}/${file}`,
        ...model.files[file],
        // Every weight file of this build may be picked (?model=, ?precision=): keep those.
        keep: Object.values(models).flatMap((m) => Object.values(m.precisions).map((f) => m.files[f].sha256)),
        onBytes: bytes.track(`model:${file}`),
        digest: sha256,
        download: (url, expected, onBytes) => fetchVerified(url, expected, onBytes, sha256),
      }),
      controlled ? null : fetchVerified(new URL(runtime.binary.path, SITE), runtime.binary, bytes.track(`runtime:${name}`), sha256),
    ]);
    bytes.done(`model:${file}`);
    stage(onnx.source === 'cache' ? 'model_from_cache' : 'model_download', tModel);
    cache = { ...onnx.cache, source: onnx.source };
    if (onnx.cache.note) progress('cache', onnx.cache.note);
    progress('session', `Preparing the model (${name === 'webgpu' ? 'WebGPU' : 'WASM'}, ${wanted})`);
    return { modelBytes: onnx.bytes, runtime: { module: new URL(runtime.module, SITE).href, adapter: probe.adapter } };
  };
  const configs = Promise.all(
    ['config.json', 'preprocessor_config.json'].map((name) =>
      fetchVerified(new URL(name, base), model.files[name], undefined, sha256).then((b) => new TextDecoder().decode(b)),
    ),
  );
  // Told when WebGPU fails later: the page says so in one line.
  const describe = (c) => ({ ...c, file: model.precisions[c.precision] });
  const onSwitch = (now, message) => post({ type: 'progress', stage: 'backend', message, choice: describe(now) });

  // The session is created while Python may still be starting: they use different threads.
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

  // onnxruntime-web sets up kernels and memory on its first run (about a second): do it now, so
  // that "ready" means a photo picked at this moment gets steady-state speed. (Not on a software
  // GPU adapter, forced by the visitor: there a run takes minutes.)
  if (runner.warmUp !== false) {
    progress('warmup', 'Warming up the model');
    const tWarm = performance.now();
    await browser.warm_up();
    stage('warmup', tWarm);
  }
  runner.armTestFailure?.(); // tests of the WebGPU fallback: fail the first photo's run
  stage('total', t0);

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
  return { py, browser, runner };
}

async function cacheRequest({ id, action }) {
  try {
    if (action === 'clear') await clearCachedModels();
    post({ type: 'cache', id, entries: await listCachedModels() });
  } catch (error) {
    post({ type: 'cache', id, error: error.message });
  }
}

let pythonHexdigest = null; // compiled once, kept for the worker's life

function pythonSha256(py, data) {
  pythonHexdigest ??= py.runPython('import hashlib\nlambda data: hashlib.sha256(data.to_bytes()).hexdigest()');
  return pythonHexdigest(data);
}

async function segment({ id, file, confidence = false }, received) {
  if (!ready) {
    post({ type: 'error', id, message: 'The segmentation engine did not start; reload the page to try again.', kind: 'runtime' });
    return;
  }
  let browser, runner;
  try {
    ({ browser, runner } = await ready); // a photo picked during start-up waits here
  } catch {
    post({ type: 'error', id, message: 'The segmentation engine failed to start.', kind: 'runtime' });
    return;
  }
  if (cancelled.has(id)) return; // replaced by a newer photo before it started
  // Time spent waiting for the engine or for earlier photos: part of what the visitor waited.
  const queued = performance.now() - received;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const proxy = await browser.segment(bytes, JSON.stringify({ confidence: confidence === true }));
    const result = proxy.toJs({ dict_converter: Object.fromEntries });
    proxy.destroy();
    if (result.error) {
      post({ type: 'error', id, message: result.error, kind: 'input' });
      return;
    }
    if (cancelled.has(id)) return; // no one is waiting: skip the overlay and the PNG
    const start = performance.now();
    result.overlay = await overlayBitmap(result.labels, result.width, result.height, result.classes);
    result.timings.overlay = performance.now() - start;
    // The backend that produced this result (WebGPU may have handed over to WASM mid-job);
    // 'model.*' entries are parts of the model stage (not added to the total).
    result.backend = runner.name;
    for (const [name, ms] of Object.entries(runner.timings)) result.timings[`model.${name}`] = ms;
    result.timings = { queued, ...result.timings };
    const transfer = [result.labels.buffer, result.overlay];
    if (result.confidence) transfer.push(result.confidence.buffer);
    post({ type: 'result', id, result }, transfer);
    const pngProxy = browser.labels_png();
    const png = pngProxy.toJs(); // a copy in JS memory; the Python bytes can go
    pngProxy.destroy();
    post({ type: 'labels-png', id, png }, [png.buffer]);
    if (confidence === 'after') computeConfidence(id, browser); // not awaited: the queue moves on
  } catch (error) {
    // Python exceptions carry a whole traceback; its last line is the message.
    const last = String(error.message).trim().split('\n').pop();
    post({ type: 'error', id, message: `Segmentation failed: ${last}`, kind: 'runtime' });
  }
}

// The latest photo's confidence map, computed after its labels are shown (seconds for 12 MP
// in Pyodide), a slice at a time and only while no other job waits: a newer photo, a video
// frame or an export waits at most one slice. A newer photo drops it.
let confidenceFor = null; // id of the photo whose confidence is being computed
const CONFIDENCE_SLICE_MS = 40;

// A new task (not a microtask), so that messages that came meanwhile run first; a
// MessageChannel rather than setTimeout, whose nested calls are clamped to 4 ms each.
const tick = new MessageChannel();
const ticks = [];
tick.port1.onmessage = () => ticks.shift()?.();
const nextTask = () => new Promise((resolve) => {
  ticks.push(resolve);
  tick.port2.postMessage(null);
});

async function computeConfidence(id, browser) {
  confidenceFor = id;
  const dropped = () => confidenceFor !== id || cancelled.has(id);
  for (;;) {
    await nextTask(); // let waiting messages in
    const pending = queue;
    await pending;
    if (pending !== queue) continue; // other jobs first
    if (dropped()) {
      post({ type: 'confidence', id, dropped: true });
      return;
    }
    lastJob = performance.now(); // the snapshot's storing waits for this too
    let out;
    try {
      const proxy = browser.confidence_step(CONFIDENCE_SLICE_MS);
      out = proxy?.toJs({ dict_converter: Object.fromEntries });
      proxy?.destroy();
    } catch (error) {
      out = { error: String(error.message).trim().split('\n').pop() };
    }
    if (!out) continue;
    confidenceFor = null;
    if (out.error) post({ type: 'confidence', id, error: out.error });
    else post({ type: 'confidence', id, confidence: out.confidence, classes: out.classes, ms: out.ms }, [out.confidence.buffer]);
    return;
  }
}

// Exports of the latest result, encoded here (Python), never on the page's UI thread.
async function exportFile({ id, kind, options }) {
  let browser;
  try {
    if (!ready) throw new Error('not started');
    ({ browser } = await ready);
  } catch {
    post({ type: 'error', id, message: 'The segmentation engine is not running; reload the page.', kind: 'runtime' });
    return;
  }
  try {
    const proxy = browser.export_file(String(kind), JSON.stringify(options ?? {}));
    const out = proxy.toJs({ dict_converter: Object.fromEntries });
    proxy.destroy();
    if (out.error) {
      post({ type: 'error', id, message: out.error, kind: 'input' });
      return;
    }
    post({ type: 'export', id, data: out.data, mime: out.mime, ms: out.ms }, [out.data.buffer]);
  } catch (error) {
    const last = String(error.message).trim().split('\n').pop();
    post({ type: 'error', id, message: `Export failed: ${last}`, kind: 'runtime' });
  }
}
