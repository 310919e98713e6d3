// The worker: Python (Pyodide) + onnxruntime-web, off the UI thread.
//
// Messages in:   {type: 'init', precision?}
//                {type: 'segment', id, file: Blob, confidence?: boolean}
//                {type: 'export', id, kind, options}   encode the latest result (sceneseg.exports)
//                {type: 'cancel', id}                  the caller no longer wants job id
// Messages out:  {type: 'progress', stage, message, loaded?, total?}
//                {type: 'ready', info}
//                {type: 'result', id, result}          result.labels and result.overlay
//                                                      (an ImageBitmap) are transferred
//                {type: 'labels-png', id, png}         png is transferred
//                {type: 'export', id, data, mime, ms}  data (Uint8Array) is transferred
//                {type: 'error', id?, message, kind}   kind: 'input' (bad file) | 'runtime'
import { fetchVerified, hasWebCrypto, webCryptoSha256 } from './fetch-verified.js';
import { createModelRunner } from './model-runner.js';
import { overlayBitmap } from './overlay-image.js';
import { startPython } from './python-runtime.js';

const SITE = new URL('../', import.meta.url);
let ready = null; // Promise<{py, browser}>
let queue = Promise.resolve(); // jobs run one at a time, in order
const cancelled = new Set(); // ids of jobs whose caller has moved on

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'init') {
    if (ready) return;
    ready = init(message).catch((error) => {
      post({ type: 'error', message: `Could not start: ${error.message}`, kind: 'runtime' });
      ready = null;
      throw error;
    });
    // First in the queue: one run on a blank input as soon as the model is ready, so the
    // user's first photo does not pay onnxruntime-web's first-run setup (about a second).
    queue = queue.then(() => ready).then(({ browser }) => browser.warm_up()).catch(() => {});
  } else if (message.type === 'segment') {
    queue = queue
      .then(() => segment(message))
      .catch(() => {})
      .finally(() => cancelled.delete(message.id));
  } else if (message.type === 'export') {
    // In the queue: an export asked for right after a segment waits for its result.
    queue = queue.then(() => exportFile(message)).catch(() => {});
  } else if (message.type === 'cancel') {
    cancelled.add(message.id);
  }
};

function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

function progress(stage, message, loaded, total) {
  post({ type: 'progress', stage, message, loaded, total });
}

async function init({ precision }) {
  const buildInfo = await (await fetch(new URL('build-info.json', SITE))).json();
  const model = buildInfo.model;
  precision ||= buildInfo.default_precision.wasm;
  const file = model.precisions[precision];
  if (!file) throw new Error(`this build has no ${precision} model (has: ${Object.keys(model.precisions)})`);
  const base = new URL(model.path, SITE);

  // Python start-up and the downloads overlap. The two large downloads (model, onnxruntime's
  // WASM) report their bytes together.
  const python = startPython((text) => progress('python', text));
  const bytes = { model: [0, model.files[file].size], runtime: [0, buildInfo.onnxruntime_web.wasm.size] };
  const onBytes = (key) => (loaded) => {
    bytes[key][0] = loaded;
    const [done, total] = Object.values(bytes).reduce(([a, b], [l, t]) => [a + l, b + t], [0, 0]);
    progress('download', 'Downloading the model and its runtime', done, total);
  };
  // A page opened over plain http on a LAN address has no Web Crypto; it still verifies
  // every file, with Python's hashlib once Pyodide is up.
  const sha256 = hasWebCrypto ? webCryptoSha256 : async (data) => pythonSha256(await python, data);
  const modelBytes = fetchVerified(new URL(file, base), model.files[file], onBytes('model'), sha256);
  const ortWasm = buildInfo.onnxruntime_web.wasm;
  const wasmBytes = fetchVerified(new URL(ortWasm.path, SITE), ortWasm, onBytes('runtime'), sha256);
  const configs = Promise.all(
    ['config.json', 'preprocessor_config.json'].map((name) =>
      fetchVerified(new URL(name, base), model.files[name], undefined, sha256).then((b) =>
        new TextDecoder().decode(b),
      ),
    ),
  );
  const [py, onnx, wasm, [config, preprocessor]] = await Promise.all([python, modelBytes, wasmBytes, configs]);
  progress('session', 'Preparing the model');
  const runner = await createModelRunner(onnx, precision, wasm);
  const browser = py.pyimport('sceneseg.browser');
  const modelFile = { id: model.id, file, sha256: model.files[file].sha256, precision };
  browser.init(runner, config, preprocessor, JSON.stringify(modelFile));
  const info = {
    model: { id: model.id, name: model.name, standin: model.standin, description: model.description },
    precision,
    backend: runner.name,
    versions: { sceneseg: buildInfo.sceneseg, pyodide: buildInfo.pyodide.version, onnxruntime_web: buildInfo.onnxruntime_web.version },
  };
  post({ type: 'ready', info });
  return { py, browser };
}

let pythonHexdigest = null; // compiled once, kept for the worker's life

function pythonSha256(py, data) {
  pythonHexdigest ??= py.runPython('import hashlib\nlambda data: hashlib.sha256(data.to_bytes()).hexdigest()');
  return pythonHexdigest(data);
}

async function segment({ id, file, confidence = false }) {
  if (cancelled.has(id)) return; // replaced by a newer photo before it started
  if (!ready) {
    post({ type: 'error', id, message: 'The segmentation engine did not start; reload the page to try again.', kind: 'runtime' });
    return;
  }
  let browser;
  try {
    ({ browser } = await ready);
  } catch {
    post({ type: 'error', id, message: 'The segmentation engine failed to start.', kind: 'runtime' });
    return;
  }
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const proxy = await browser.segment(bytes, JSON.stringify({ confidence: Boolean(confidence) }));
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
    const transfer = [result.labels.buffer, result.overlay];
    if (result.confidence) transfer.push(result.confidence.buffer);
    post({ type: 'result', id, result }, transfer);
    const pngProxy = browser.labels_png();
    const png = pngProxy.toJs(); // a copy in JS memory; the Python bytes can go
    pngProxy.destroy();
    post({ type: 'labels-png', id, png }, [png.buffer]);
  } catch (error) {
    // Python exceptions carry a whole traceback; its last line is the message.
    const last = String(error.message).trim().split('\n').pop();
    post({ type: 'error', id, message: `Segmentation failed: ${last}`, kind: 'runtime' });
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
