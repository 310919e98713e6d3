// The peer as a transformers.js user would write it: pipeline('image-segmentation') on the
// WASM backend, every file from this origin (the model, transformers.js, onnxruntime-web's WASM).
// bench/peer.py copies transformers.min.js (the file CDNs serve for the package) and the
// onnxruntime-web build it loads beside this page; see PEER_FILES there.
import { env, pipeline, RawImage } from './transformers.min.js';

const params = new URLSearchParams(location.search);
const MODEL = params.get('model') || 'segformer-b0-ade-synthetic';
const $ = (id) => document.getElementById(id);

env.allowRemoteModels = false; // never the Hugging Face Hub
env.allowLocalModels = true; // off by default in browsers
// Relative on purpose: given an absolute http(s) URL here, transformers.js 4.3.1 decides that
// preprocessor_config.json does not exist (it tests the joined path with isValidUrl) and the
// pipeline gets no image processor ("this.processor is not a function").
env.localModelPath = 'models/';
// transformers.js points onnxruntime-web at jsDelivr unless told otherwise: the same files, local.
env.backends.onnx.wasm.wasmPaths = {
  mjs: new URL('ort/ort-wasm-simd-threaded.asyncify.mjs', location.href).href,
  wasm: new URL('ort/ort-wasm-simd-threaded.asyncify.wasm', location.href).href,
};
// SceneSeg's rule (web/worker/model-runner.js), so that both use the same thread count.
const threads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
env.backends.onnx.wasm.numThreads = Number(params.get('threads')) || threads;
document.body.dataset.threads = String(env.backends.onnx.wasm.numThreads);

const segmenterPromise = pipeline('image-segmentation', MODEL, { device: 'wasm', dtype: 'q8' });
segmenterPromise.then(
  () => {
    $('status').textContent = `ready · ${env.backends.onnx.wasm.numThreads} threads`;
    document.body.dataset.ready = 'true';
  },
  (error) => showError(`Could not start: ${error.message}`),
);

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

// Photos picked before the pipeline is ready wait for it; one at a time, in order.
let queue = Promise.resolve();
$('file').addEventListener('change', () => {
  const [file] = $('file').files;
  $('file').value = '';
  if (file) queue = queue.then(() => run(file));
});

async function run(file) {
  document.body.dataset.busy = 'true';
  showError('');
  try {
    const start = performance.now();
    const segmenter = await segmenterPromise;
    const waited = performance.now();
    const image = await RawImage.fromBlob(file);
    const decoded = performance.now();
    // What transformers.js delivers: one full-resolution mask per class found.
    const segments = await segmenter(image);
    const done = performance.now();
    // A label map (class id per pixel, as SceneSeg gives) costs one more pass over the masks:
    // timed apart, not part of the result time the benchmark compares.
    const labels = labelMap(segmenter.model.config, segments, image.width * image.height);
    const labelled = performance.now();
    const timings = {
      wait: waited - start,
      decode: decoded - waited,
      pipeline: done - decoded,
      total: done - start,
      label_map: labelled - done,
    };
    let unlabelled = 0;
    for (const label of labels) unlabelled += label === 255;
    // For the benchmark's checks: the masks cover the photo at its full size.
    window.peerResult = { width: image.width, height: image.height, segments: segments.length, unlabelled };
    $('timings').textContent = Object.entries(timings).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(' · ');
    $('timings').dataset.timings = JSON.stringify(timings);
    $('status').textContent = `${file.name}: ${image.width}×${image.height}, ${segments.length} classes`;
    document.body.dataset.result = String(Number(document.body.dataset.result || 0) + 1);
  } catch (error) {
    showError(`${file.name}: ${error.message || error}`);
  } finally {
    delete document.body.dataset.busy;
  }
}

function labelMap(config, segments, pixels) {
  const label2id = Object.fromEntries(Object.entries(config.id2label).map(([id, name]) => [name, Number(id)]));
  const labels = new Uint8Array(pixels).fill(255);
  for (const { label, mask } of segments) {
    const id = label2id[label];
    const data = mask.data;
    for (let i = 0; i < pixels; ++i) if (data[i]) labels[i] = id;
  }
  return labels;
}
