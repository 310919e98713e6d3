// The page: the engine and its status, the ways photos come in (picker, camera, drop, paste,
// examples) and the photo's run through the engine. The result on screen is photo-view.js, its
// downloads photo-downloads.js; video and batch modes are video/ and batch/. UI thread only: the
// segmentation runs in the engine's worker, per-pixel display work in paint-worker.js.
import { InputError } from '../lib/sceneseg.js';
import { showAppStatus } from './app-status.js';
import { mountBackendSetting } from './backend-setting.js';
import { setupBatch, startBatch } from './batch/batch.js';
import { elementsById } from './elements.js';
import { buildInfoText, onEngineProgress, segmenter } from './engine-boot.js';
import { createPainter } from '../lib/painter.js';
import { mountModelSetting } from './model-setting.js';
import { setupModes } from './mode-switch.js';
import { createPhotoView } from './photo-view.js';
import { mountResolutionSetting } from './resolution-setting.js';
import { setupShareIntake } from './share/share-intake.js';
import { createShareOut } from './share/share-out.js';
import { setupVideo } from './video/video.js';

const ui = elementsById([
  'file', 'camera', 'examples', 'progress', 'progress-fill', 'progress-text', 'queued', 'error', 'announce',
  'standin', 'standin-badge', 'standin-details', 'drop-hint', 'engine', 'model-file', 'app-status', 'details',
  'details-list', 'resolution', 'resolution-cost',
]);

/** Extension points for other modules: several photos at once go to the batch view. */
export const hooks = { startBatch };

// ---- engine ---------------------------------------------------------------------------------

let lastStage = '';
// The engine was started by engine-boot.js (loaded early from index.html's <head>).
const buildInfo = buildInfoText.then(JSON.parse);
buildInfo.catch(() => {}); // the worker then fetches it and says what failed
const showChoice = mountBackendSetting(ui.details, ui.detailsList);
// stage 'backend': WebGPU failed and WASM took over; the line under the engine says so.
onEngineProgress((p) => (p.stage === 'backend' ? showChoice(p.choice, p.message) : showProgress(p)));
// The warm-up after ready (none when a photo was already waiting): diagnostics only.
segmenter.warmed.then(({ ms, runs }) => Object.assign(ui.engine.dataset, { warmupMs: Math.round(ms), warmupRuns: runs }));
let engineReady = false;
showProgress({ stage: 'start', message: 'Starting the engine…' });
// Video and batch modes (their own sections; web/app/video/, web/app/batch/).
const video = setupVideo(segmenter);
const showMode = setupModes((mode) => mode !== 'video' && video.stop());
setupBatch(segmenter, { showMode });
segmenter.ready.then(
  (info) => {
    engineReady = true;
    ui.progress.hidden = !current;
    ui.queued.hidden = true;
    // Without cross-origin isolation WASM runs on 1 thread: say why, and whether it will change.
    const why = info.isolated
      ? ''
      : ` · 1 thread (${'serviceWorker' in navigator ? 'more from the next visit on' : 'this host is not cross-origin isolated'})`;
    ui.engine.textContent =
      `${info.backend}${why} · ready in ${(performance.now() / 1000).toFixed(1)} s · ` +
      `${info.model.name} · Pyodide ${info.versions.pyodide} · onnxruntime-web ${info.versions.onnxruntime_web}`;
    ui.engine.dataset.threads = String(info.threads);
    ui.engine.dataset.startup = JSON.stringify({ ...info.startup, python: info.python?.mode });
    ui.engine.dataset.python = JSON.stringify(info.python ?? null); // mode, ms and its steps
    showChoice(info.choice);
    showAppStatus(ui.appStatus, segmenter, info);
    buildInfo.then((build) => mountModelSetting(ui.details, info.model.id, build), () => {}); // several models
    // Navigation -> ready, for benchmarks and tests.
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    if (info.model.standin) {
      ui.standin.hidden = false;
      ui.standinBadge.hidden = false;
      ui.standin.textContent = 'Development build: stand-in weights trained on synthetic scenes; its labels are not accuracy (see Details).';
      ui.standinDetails.hidden = false;
      ui.standinDetails.textContent = info.model.description;
    }
    describeModelFile(info);
    announce('Ready: choose a photo.');
    document.body.dataset.ready = 'true';
  },
  (error) => {
    ui.progress.hidden = true;
    ui.queued.hidden = true;
    showError(`Could not start the segmentation engine: ${error.message}`);
  },
);

async function describeModelFile(info) {
  try {
    const build = await buildInfo;
    const model = build.models?.[info.model.id] ?? build.model;
    const file = model.precisions[info.precision];
    const sha = model.files[file]?.sha256 ?? '';
    ui.modelFile.textContent = `${file} (${info.precision}, sha256 ${sha.slice(0, 12)}…)`;
  } catch {
    ui.modelFile.textContent = info.precision;
  }
}

function showProgress({ stage, message, loaded, total }) {
  ui.progress.hidden = false;
  const known = total > 0 && loaded !== undefined;
  if (known && stage === 'download') Object.assign(ui.progress.dataset, { loaded, total });
  ui.progress.classList.toggle('indeterminate', !known);
  ui.progressFill.style.width = known ? `${Math.round((100 * loaded) / total)}%` : '';
  ui.progressText.textContent = known ? `${message} · ${mb(loaded)} / ${mb(total)} MB` : message;
  if (stage !== lastStage) {
    lastStage = stage;
    announce(message);
  }
}

const mb = (bytes) => (bytes / 1e6).toFixed(1);

/** A detail run's progress: `done` of `total` model windows are through. */
function showWindow(file, done, total) {
  const now = Math.min(done + 1, total);
  ui.progress.hidden = false;
  ui.progress.classList.remove('indeterminate');
  ui.progress.dataset.window = `${done}/${total}`;
  ui.progressFill.style.width = `${Math.round((100 * done) / total)}%`;
  ui.progressText.textContent = done < total ? `Segmenting ${file.name}: window ${now} of ${total}…` : `Segmenting ${file.name}: putting ${total} windows together…`;
  if (done === 1 || done === total) announce(ui.progressText.textContent);
}

function announce(text) {
  ui.announce.textContent = text;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

// ---- ways in --------------------------------------------------------------------------------

/** The one entry point for photos, however they arrive. */
export async function onFiles(fileList) {
  const files = [...fileList].filter((f) => f && f.size !== undefined);
  if (files.length === 0) return;
  if (files.length > 1 && typeof hooks.startBatch === 'function') return hooks.startBatch(files);
  // Without the batch view: one after another, each shown as it is done; the last stays.
  batch = files;
  for (const file of files) {
    if (batch !== files) return; // a newer pick replaced this list
    await run(file);
  }
}
let batch = null;

for (const input of [ui.file, ui.camera]) {
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = ''; // picking the same file again still fires 'change'
    onFiles(files);
  });
}

ui.examples.addEventListener('click', async (event) => {
  const url = event.target.closest('[data-example]')?.dataset.example;
  if (!url) return;
  try {
    const blob = await (await fetch(url)).blob();
    onFiles([new File([blob], url.split('/').pop(), { type: blob.type })]);
  } catch (error) {
    showError(`Could not load the example: ${error.message}`);
  }
});

// Drag and drop anywhere on the page.
let dragDepth = 0;
const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
document.addEventListener('dragenter', (event) => {
  if (!hasFiles(event)) return;
  dragDepth++;
  ui.dropHint.hidden = false;
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => {
  if (--dragDepth <= 0) endDrag();
});
document.addEventListener('dragover', (event) => hasFiles(event) && event.preventDefault());
document.addEventListener('drop', (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  endDrag();
  onFiles(event.dataTransfer.files);
});
function endDrag() {
  dragDepth = 0;
  ui.dropHint.hidden = true;
  document.body.classList.remove('dragging');
}

// Paste from the clipboard (a copied image or image file), unless typing in a text field.
document.addEventListener('paste', (event) => {
  if (event.target.matches?.('input[type=search], input[type=text], textarea')) return;
  const files = [...(event.clipboardData?.items ?? [])]
    .filter((item) => item.kind === 'file')
    .map((item) => item.getAsFile())
    .filter(Boolean)
    .map((file) => (file.name && file.name !== 'image.png' ? file : new File([file], `pasted-${stamp()}.${(file.type.split('/')[1] || 'png').replace('jpeg', 'jpg')}`, { type: file.type })));
  if (files.length) {
    event.preventDefault();
    onFiles(files);
  }
});
const stamp = () => new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');

// ---- segmenting -----------------------------------------------------------------------------

const painter = createPainter(); // decodes each photo while the model runs; repaints the overlay
const photoView = createPhotoView({ painter, announce, showError });
let shownPhoto = null; // {file, result, width, height}: the result on screen, for sharing it
const shareOut = createShareOut({ shown: () => shownPhoto, showError, announce });
let current = null; // AbortController of the photo being segmented
let lastPick = null; // the File picked last: a change of #resolution runs it again
// What the model sees (square, keep, detail): a change re-runs the latest photo.
const resolution = mountResolutionSetting({
  select: ui.resolution,
  cost: ui.resolutionCost,
  segmenter,
  onChange: () => lastPick && run(lastPick),
});

async function run(file) {
  lastPick = file;
  delete ui.progress.dataset.window;
  // The latest photo picked wins: one still waiting (or running) is dropped.
  current?.abort();
  const controller = (current = new AbortController());
  showError('');
  document.body.dataset.busy = 'true';
  if (!engineReady) {
    ui.queued.hidden = false;
    ui.queued.textContent = `${file.name} is queued until the engine is ready; it starts by itself.`;
    announce(ui.queued.textContent);
  } else {
    showProgress({ stage: 'segment', message: `Segmenting ${file.name}…` });
  }
  // In parallel with the segmentation, at the screen's resolution (the viewer's to begin with).
  const photoKey = painter.decode(file, photoView.screenPixels());
  photoView.dim(); // the shown result as a screen-sized preview until this one is done
  try {
    // The confidence map comes after the labels (seconds at 12 MP): the result is on screen
    // without waiting for it.
    const result = await segmenter.segment(file, {
      signal: controller.signal,
      confidence: 'after',
      resolution: resolution.mode(),
      overlay: false, // photo-view paints its own, at the screen's size
      // Detail runs several model windows: say which one runs (the others are one window).
      onProgress: ({ done, total }) => !controller.signal.aborted && total > 1 && showWindow(file, done, total),
    });
    if (controller.signal.aborted) return;
    resolution.measured(result);
    await photoView.show(file, result, photoKey);
    shownPhoto = { file, result, width: result.width, height: result.height };
    shareOut.enable();
    result.laterConfidence.then((later) => photoView.showConfidence(result, later)).catch((error) => photoView.showConfidence(result, null, error));
    // Tests (and anyone scripting the page) wait on this counter.
    document.body.dataset.result = String(Number(document.body.dataset.result || 0) + 1);
  } catch (error) {
    painter.drop(photoKey);
    if (controller.signal.aborted) return; // replaced by a newer photo: nothing to say
    // The previous result, if any, comes back at full resolution: a bad file loses nothing.
    photoView.restore();
    showError(error instanceof InputError ? `${file.name}: ${error.message}` : error.message);
    announce(`Could not segment ${file.name}.`);
  } finally {
    if (current === controller) {
      current = null;
      ui.queued.hidden = true;
      if (engineReady) ui.progress.hidden = true;
      delete document.body.dataset.busy;
    }
  }
}

// ---- shared into the app, opened with it ------------------------------------------------------

// The share target and file handlers (web/app/share/): one photo in the Photo view, several in
// Batch, as a pick. Last in the module: what it opens uses everything above.
setupShareIntake({
  open: (files) => {
    if (files.length === 1) showMode('photo'); // a launch into an open window may find it in Batch or Video
    onFiles(files);
  },
  showError,
  announce,
});
