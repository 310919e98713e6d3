// The page: pick a photo, see it segmented. UI thread only; the work happens in the worker.
import { createSegmenter, InputError } from '../lib/sceneseg.js';
import { showAppStatus } from './app-status.js';
import { backendPreference, mountBackendSetting } from './backend-setting.js';
import { formatPercent, renderLegend } from './legend.js';
import { decodePhoto, labelAt, showBitmap, showPhoto } from './overlay.js';
import { setupBatch } from './batch/batch.js';
import { setupModes } from './mode-switch.js';
import { setupVideo } from './video/video.js';

const $ = (id) => document.getElementById(id);
const ui = {
  file: $('file'),
  opacity: $('opacity'),
  download: $('download-labels'),
  progress: $('progress'),
  progressFill: $('progress-fill'),
  progressText: $('progress-text'),
  engine: $('engine'),
  standin: $('standin'),
  error: $('error'),
  viewer: $('viewer'),
  photo: $('photo'),
  overlay: $('overlay'),
  legendPanel: $('legend-panel'),
  legend: $('legend'),
  timings: $('timings'),
  placeholder: $('placeholder'),
  pointerClass: $('pointer-class'),
  imageInfo: $('image-info'),
  appStatus: $('app-status'),
};

let current = null; // AbortController of the photo being segmented
let shown = null; // the result on screen: {labels, width, height, classes}
let downloadUrl = null;

// Backend and model file: automatic, or as the URL / the setting say (backend-setting.js).
const showChoice = mountBackendSetting(document.querySelector('.controls'), ui.engine);
const segmenter = createSegmenter({
  ...backendPreference(),
  model: new URLSearchParams(location.search).get('model') || undefined, // a model id of this build
  snapshot: new URLSearchParams(location.search).get('snapshot') !== '0', // ?snapshot=0: fresh Python
  // stage 'backend': WebGPU failed and WASM took over; the line under the engine says so.
  onProgress: (p) => (p.stage === 'backend' ? showChoice(p.choice, p.message) : showProgress(p)),
});
let engineReady = false;
let lastProgress = { message: 'Starting…' }; // the start-up step, shown again under a queued photo
showProgress(lastProgress);
// Video and batch modes (their own sections; web/app/video/, web/app/batch/).
const video = setupVideo(segmenter);
const showMode = setupModes((mode) => mode !== 'video' && video.stop());
setupBatch(segmenter, { showMode });
segmenter.ready.then(
  (info) => {
    engineReady = true;
    if (!current) ui.progress.hidden = true;
    showChoice(info.choice);
    const threads = info.isolated
      ? `${info.threads} threads`
      : `1 thread (${'serviceWorker' in navigator ? 'more from the next visit on' : 'this host is not cross-origin isolated'})`;
    ui.engine.textContent =
      `${info.model.name} · ${info.choice.backend} ${info.precision} · ${threads} · ` +
      `ready in ${(performance.now() / 1000).toFixed(1)} s · Pyodide ${info.versions.pyodide} · onnxruntime-web ${info.versions.onnxruntime_web}`;
    ui.engine.dataset.threads = String(info.threads);
    ui.engine.dataset.startup = JSON.stringify(info.startup);
    if (info.model.standin) {
      ui.standin.hidden = false;
      ui.standin.textContent = info.model.description;
    }
    showAppStatus(ui.appStatus, segmenter, info);
    // Navigation -> ready, for benchmarks and tests.
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    document.body.dataset.ready = 'true';
  },
  (error) => {
    ui.progress.hidden = true;
    showError(`Could not start the segmentation engine: ${error.message}`);
  },
);

function showProgress({ stage, message, loaded, total }) {
  if (!engineReady && stage !== 'photo') lastProgress = { message, loaded, total };
  if (current && !engineReady && stage !== 'photo') {
    // A photo is waiting for the engine: say so, with the step the engine is at.
    message = `Your photo starts when the engine is ready · ${message}`;
  }
  ui.progress.hidden = false;
  const known = total > 0 && loaded !== undefined;
  if (known && stage === 'download') Object.assign(ui.progress.dataset, { loaded, total });
  ui.progress.classList.toggle('indeterminate', !known);
  ui.progressFill.style.width = known ? `${Math.round((100 * loaded) / total)}%` : '';
  ui.progressText.textContent = known ? `${message} · ${mb(loaded)} / ${mb(total)} MB` : message;
}

const mb = (bytes) => (bytes / 1e6).toFixed(1);

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

ui.file.addEventListener('change', () => {
  const [file] = ui.file.files;
  ui.file.value = ''; // picking the same file again still fires 'change'
  if (file) run(file);
});


async function run(file) {
  // The latest photo picked wins: one still waiting (or running) is dropped.
  current?.abort();
  const controller = (current = new AbortController());
  showError('');
  document.body.dataset.busy = 'true';
  if (engineReady) showProgress({ stage: 'photo', message: `Segmenting ${file.name}…` });
  else showProgress({ ...lastProgress, message: `${file.name} is queued: it starts when the engine is ready · ${lastProgress.message}`, stage: 'photo' });
  const photo = decodePhoto(file); // in parallel with the segmentation
  try {
    const result = await segmenter.segment(file, { signal: controller.signal });
    await show(file, result, photo);
    // Tests (and anyone scripting the page) wait on this counter.
    document.body.dataset.result = String(Number(document.body.dataset.result || 0) + 1);
  } catch (error) {
    photo.then((bitmap) => bitmap?.close());
    if (controller.signal.aborted) return; // replaced by a newer photo: nothing to say
    // The previous result, if any, stays on screen: a bad file loses nothing.
    showError(error instanceof InputError ? `${file.name}: ${error.message}` : error.message);
  } finally {
    if (current === controller) {
      current = null;
      if (engineReady) ui.progress.hidden = true;
      delete document.body.dataset.busy;
    }
  }
}

async function show(file, result, photo) {
  const { width, height, labels, classes, overlay } = result;
  const start = performance.now();
  const photoOk = showPhoto(ui.photo, await photo, width, height);
  showBitmap(ui.overlay, overlay, width, height);
  const renderMs = performance.now() - start;

  shown = { labels, width, height, classes };
  ui.placeholder.hidden = true;
  ui.viewer.hidden = false;
  fitToView();
  ui.legendPanel.hidden = false;
  renderLegend(ui.legend, classes);
  // Screen readers get the photo's content in words: the largest classes and their shares.
  const largest = classes.slice(0, 5).map((c) => `${c.name} ${formatPercent(c.fraction)}`);
  ui.overlay.setAttribute('aria-label', `${file.name}, segmented: ${largest.join(', ')}`);
  ui.imageInfo.textContent = `${file.name} · ${width}×${height}`;
  const timings = { ...result.timings, render: renderMs };
  // 'model.*' are parts of the model stage: not added again.
  const total = Object.entries(timings).reduce((sum, [k, ms]) => (k.includes('.') ? sum : sum + ms), 0);
  ui.timings.textContent =
    `${result.backend}: ` +
    Object.entries(timings)
      .map(([k, v]) => `${k} ${Math.round(v)} ms`)
      .join(' · ') +
    ` · total ${Math.round(total)} ms`;
  ui.timings.dataset.timings = JSON.stringify(timings);
  if (!photoOk) showError(`This browser cannot display ${file.name} itself; the labels are shown on black.`);

  setDownload(null);
  const base = file.name.replace(/\.[^.]*$/, '') || 'image';
  result.labelsPng.then(
    (blob) => shown?.labels === labels && setDownload(blob, `${base}-labels.png`),
    () => {},
  );
}

function setDownload(blob, name) {
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = blob ? URL.createObjectURL(blob) : null;
  if (downloadUrl) {
    ui.download.href = downloadUrl;
    ui.download.download = name;
  } else {
    ui.download.removeAttribute('href');
  }
  ui.download.setAttribute('aria-disabled', String(!blob));
}

/** Show the photo as large as the column and 78% of the window height allow, keeping its shape. */
function fitToView() {
  if (!shown) return;
  const available = ui.viewer.clientWidth;
  const scale = Math.min(available / shown.width, (0.78 * window.innerHeight) / shown.height);
  ui.photo.style.width = `${Math.floor(shown.width * scale)}px`;
  ui.photo.style.height = `${Math.floor(shown.height * scale)}px`;
}
window.addEventListener('resize', fitToView);

ui.opacity.addEventListener('input', () => {
  ui.overlay.style.opacity = String(ui.opacity.value / 100);
});

// Mouse: hover; touch and pen: tap or drag.
for (const type of ['pointermove', 'pointerdown']) {
  ui.overlay.addEventListener(type, (event) => {
    if (!shown) return;
    const id = labelAt(event, ui.overlay, shown.labels, shown.width, shown.height);
    const found = shown.classes.find((c) => c.id === id);
    ui.pointerClass.textContent = found ? found.name : '';
  });
}
