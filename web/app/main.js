// The page: photos in (picker, camera, drop, paste, examples), the result to look at (overlay,
// split, side by side, confidence; zoom and pan; legend), the files out (downloads, encoded in
// the worker). UI thread only: the segmentation runs in the engine's worker, per-pixel display
// work in paint-worker.js.
import { createSegmenter, exportName, InputError } from '../lib/sceneseg.js';
import { showAppStatus } from './app-status.js';
import { backendPreference, mountBackendSetting } from './backend-setting.js';
import { setupBatch, startBatch } from './batch/batch.js';
import { saveBlob } from './downloads.js';
import { formatPercent, groupsOf, renderLegend, updateLegend } from './legend.js';
import { createPainter } from './painter.js';
import { mountModelSetting } from './model-setting.js';
import { setupModes } from './mode-switch.js';
import { setupVideo } from './video/video.js';
import { createViewer } from './viewer.js';

const $ = (id) => document.getElementById(id);
const ui = Object.fromEntries(
  [
    'file', 'camera', 'examples', 'opacity', 'opacity-value', 'view-mode', 'split-control', 'split',
    'zoom-in', 'zoom-out', 'zoom-fit', 'zoom-actual', 'progress', 'progress-fill', 'progress-text',
    'queued', 'error', 'announce', 'standin', 'standin-details', 'viewport', 'stage', 'photo', 'overlay',
    'split-line', 'placeholder', 'drop-hint', 'pointer-class', 'pointer-confidence', 'image-info',
    'legend', 'legend-filter', 'group-filter', 'threshold', 'threshold-value', 'threshold-note', 'download-labels',
    'engine', 'model-file', 'details-image', 'timings', 'app-status', 'details', 'details-list',
  ].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]),
);

/** Extension points for other modules: several photos at once go to the batch view. */
export const hooks = { startBatch };

// ---- engine ---------------------------------------------------------------------------------

let lastStage = '';
// Backend and model file: automatic, or as the URL / the setting say (backend-setting.js).
const showChoice = mountBackendSetting(ui.details, ui.detailsList);
const params = new URLSearchParams(location.search);
const segmenter = createSegmenter({
  ...backendPreference(),
  model: params.get('model') || undefined, // a model id of this build (README: variants)
  snapshot: params.get('snapshot') !== '0', // ?snapshot=0: Python starts afresh
  // stage 'backend': WebGPU failed and WASM took over; the line under the engine says so.
  onProgress: (p) => (p.stage === 'backend' ? showChoice(p.choice, p.message) : showProgress(p)),
});
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
    mountModelSetting(ui.details, info.model.id); // when the build has several models
    // Navigation -> ready, for benchmarks and tests.
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    if (info.model.standin) {
      ui.standin.hidden = false;
      $('standin-badge').hidden = false;
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
    const build = await (await fetch('build-info.json')).json();
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

let current = null; // AbortController of the photo being segmented

async function run(file) {
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
  const photoKey = painter.decode(file); // in parallel with the segmentation
  try {
    // The confidence map comes after the labels (seconds at 12 MP): the result is on screen
    // without waiting for it.
    const result = await segmenter.segment(file, { signal: controller.signal, confidence: 'after' });
    if (controller.signal.aborted) return;
    await show(file, result, photoKey);
    result.laterConfidence.then((later) => showConfidence(result, later)).catch((error) => showConfidence(result, null, error));
    // Tests (and anyone scripting the page) wait on this counter.
    document.body.dataset.result = String(Number(document.body.dataset.result || 0) + 1);
  } catch (error) {
    painter.drop(photoKey);
    if (controller.signal.aborted) return; // replaced by a newer photo: nothing to say
    // The previous result, if any, stays on screen: a bad file loses nothing.
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

// ---- the result on screen -------------------------------------------------------------------

let shown = null; // {file, labels, confidence (null until it comes), width, height, classes, labelsPng, result}
const view = { hidden: new Set(), isolated: null, highlighted: null, selected: null, group: '', filter: '', threshold: 0, mode: 'overlay' };
const painter = createPainter();
const viewer = createViewer({
  viewport: ui.viewport,
  stage: ui.stage,
  photo: ui.photo,
  overlay: ui.overlay,
  splitLine: ui.splitLine,
  onPoint: readOut,
});

async function show(file, result, photoKey) {
  const { width, height, labels, classes, overlay } = result;
  const start = performance.now();
  // The photo drawn upright by paint-worker.js (EXIF applied there, identically everywhere).
  const photo = await painter.photo(photoKey, width, height);
  showBitmap(ui.photo, photo, width, height);
  showBitmap(ui.overlay, overlay, width, height);
  const renderMs = performance.now() - start;
  painter.setLabels(labels, width, height);

  shown = { file, labels, confidence: null, width, height, classes, labelsPng: result.labelsPng, result };
  Object.assign(view, { hidden: new Set(), isolated: null, highlighted: null, selected: classes[0]?.id ?? null });
  ui.placeholder.hidden = true;
  viewer.setSize(width, height);
  document.body.classList.add('has-result');
  renderLegend(ui.legend, classes, legendHandlers);
  fillGroups(classes);
  ui.legendFilter.disabled = false;
  // Until this photo's confidence map arrives (showConfidence): no threshold, no confidence view.
  ui.threshold.disabled = true;
  ui.thresholdNote.textContent = 'Computing confidence…';
  ui.viewMode.querySelector('[value=confidence]').disabled = true;
  if (view.mode === 'confidence') setMode('overlay');
  delete document.body.dataset.confidence;
  updateLegend(ui.legend, view);
  const largest = classes.slice(0, 5).map((c) => `${c.name} ${formatPercent(c.fraction)}`);
  // Screen readers get the photo's content in words: the largest classes and their shares.
  ui.overlay.setAttribute('aria-label', `${file.name}, segmented: ${largest.join(', ')}`);
  ui.imageInfo.textContent = `${file.name} · ${width}×${height}`;
  ui.detailsImage.textContent = `${width}×${height} px (${((width * height) / 1e6).toFixed(1)} MP), ${file.type || 'unknown type'}, ${(file.size / 1e3).toFixed(0)} kB`;
  const timings = { ...result.timings, render: renderMs };
  // Together the stages are the time from the pick to the result on screen ('model.*' are
  // parts of the model stage, not added again).
  const total = Object.entries(timings).reduce((sum, [k, ms]) => (k.includes('.') ? sum : sum + ms), 0);
  ui.timings.textContent =
    `${result.backend}: ` +
    Object.entries(timings)
      .map(([k, v]) => `${k} ${Math.round(v)} ms`)
      .join(' · ') + ` · total ${Math.round(total)} ms`;
  ui.timings.dataset.timings = JSON.stringify(timings);
  announce(`Done: ${file.name}, ${classes.length} classes. ${largest.slice(0, 3).join(', ')}.`);
  if (!photo) showError(`This browser cannot display ${file.name} itself; the labels are shown on black.`);
  if (view.mode !== 'overlay') repaint();
  enableDownloads();
}

/** The shown result's confidence map has come (or failed): threshold, view, read-out, download. */
function showConfidence(result, later, error) {
  if (shown?.result !== result) return; // a newer photo is on screen
  if (!later) {
    ui.thresholdNote.textContent = error ? `No confidence map: ${error.message}` : '';
    return;
  }
  shown.confidence = later.confidence;
  painter.setConfidence(later.confidence);
  ui.threshold.disabled = false;
  ui.thresholdNote.textContent = '';
  ui.viewMode.querySelector('[value=confidence]').disabled = false;
  // The threshold set for the previous photo applies to this one too, now that it can (and
  // to its label map download; without a threshold that link stays as it is).
  if (view.threshold > 0) {
    repaint();
    prepareLabelsDownload();
  }
  updateExportButtons();
  ui.timings.dataset.confidence = String(later.ms);
  document.body.dataset.confidence = 'ready'; // for tests and scripts
}

function showBitmap(canvas, bitmap, width, height) {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('bitmaprenderer').transferFromImageBitmap(bitmap ?? null);
}

function fillGroups(classes) {
  const groups = [...new Set(classes.flatMap(groupsOf))].sort();
  // Values are 'axis:name' (context:outdoor, kind:nature): one list per axis.
  const axes = new Map();
  for (const g of groups) {
    const [axis, name] = g.includes(':') ? g.split(':') : ['group', g];
    if (!axes.has(axis)) axes.set(axis, []);
    axes.get(axis).push(new Option(name, g));
  }
  const lists = [...axes].map(([axis, options]) => {
    const list = document.createElement('optgroup');
    list.label = axis[0].toUpperCase() + axis.slice(1);
    list.append(...options);
    return list;
  });
  ui.groupFilter.replaceChildren(new Option('All groups', ''), ...lists);
  ui.groupFilter.disabled = groups.length === 0;
  if (!groups.includes(view.group)) view.group = '';
  ui.groupFilter.value = view.group;
}

const legendHandlers = {
  onIsolate(id) {
    view.isolated = view.isolated === id ? null : id;
    view.selected = id;
    view.hidden.delete(id);
    refresh();
  },
  onToggle(id, visible) {
    if (visible) view.hidden.delete(id);
    else view.hidden.add(id);
    if (!visible && view.isolated === id) view.isolated = null;
    refresh();
  },
  onHighlight(id) {
    if (view.highlighted === id) return;
    view.highlighted = id;
    if (id !== null) view.selected = id;
    repaint();
  },
};

function refresh() {
  updateLegend(ui.legend, view);
  repaint();
  updateMaskButton();
}

/** The class table of the overlay: RGBA per class id (hidden, isolated, highlighted). */
function lookupTable() {
  const lut = new Uint32Array(256); // 255 (unlabelled) and absent classes: transparent
  for (const c of shown.classes) {
    let visible = !view.hidden.has(c.id) && (view.isolated === null || view.isolated === c.id);
    if (view.group && !groupsOf(c).includes(view.group)) visible = false;
    // A highlighted class is drawn opaque and everything else faint: similar colours never confuse.
    let alpha = visible ? 255 : 0;
    if (view.highlighted !== null && visible && c.id !== view.highlighted) alpha = 40;
    const [r, g, b] = c.color;
    lut[c.id] = ((alpha << 24) | (b << 16) | (g << 8) | r) >>> 0;
  }
  return lut;
}

let paintQueued = false;
function repaint() {
  if (!shown || paintQueued) return;
  paintQueued = true;
  // Coalesce bursts (slider drags, pointer sweeps over the legend) into one paint per frame.
  requestAnimationFrame(async () => {
    paintQueued = false;
    const threshold = Math.round(view.threshold * 255);
    const { width, height, labels } = shown;
    const bitmap = await painter.paint(view.mode === 'confidence' ? 'confidence' : 'classes', lookupTable(), threshold);
    if (bitmap && shown?.labels === labels) showBitmap(ui.overlay, bitmap, width, height);
    else bitmap?.close();
  });
}

function readOut(point) {
  if (!shown || !point) {
    ui.pointerClass.textContent = shown ? 'Point at the image to read a class.' : ui.pointerClass.textContent;
    ui.pointerConfidence.textContent = '';
    return;
  }
  const index = point.y * shown.width + point.x;
  const found = shown.classes.find((c) => c.id === shown.labels[index]);
  ui.pointerClass.textContent = found ? found.name : '';
  ui.pointerConfidence.textContent = shown.confidence ? `${Math.round((shown.confidence[index] / 255) * 100)}% confident` : '';
}

// ---- view controls --------------------------------------------------------------------------

ui.opacity.addEventListener('input', () => {
  ui.overlay.style.opacity = String(ui.opacity.value / 100);
  ui.opacityValue.textContent = `${ui.opacity.value}%`;
});
ui.viewMode.addEventListener('change', () => setMode(ui.viewMode.value));
function setMode(mode) {
  const wasConfidence = view.mode === 'confidence';
  view.mode = mode;
  ui.viewMode.value = mode;
  ui.splitControl.hidden = mode !== 'split';
  viewer.setMode(mode === 'confidence' ? 'overlay' : mode);
  ui.overlay.classList.toggle('opaque', mode === 'side' || mode === 'confidence');
  if (wasConfidence !== (mode === 'confidence')) repaint();
}
ui.split.addEventListener('input', () => viewer.setSplit(ui.split.value / 100));
ui.zoomIn.addEventListener('click', () => viewer.zoomIn());
ui.zoomOut.addEventListener('click', () => viewer.zoomOut());
ui.zoomFit.addEventListener('click', () => viewer.fit());
ui.zoomActual.addEventListener('click', () => viewer.actualSize());
ui.legendFilter.addEventListener('input', () => {
  view.filter = ui.legendFilter.value;
  updateLegend(ui.legend, view);
});
ui.groupFilter.addEventListener('change', () => {
  view.group = ui.groupFilter.value;
  refresh();
});
let thresholdTimer = 0;
ui.threshold.addEventListener('input', () => {
  view.threshold = ui.threshold.value / 100;
  ui.thresholdValue.textContent = `${ui.threshold.value}%`;
  repaint();
  // The label map download follows the threshold (re-encoded in the worker, once it settles).
  clearTimeout(thresholdTimer);
  thresholdTimer = setTimeout(prepareLabelsDownload, 300);
});
document.addEventListener('keydown', (event) => {
  if (event.key !== 'o' && event.key !== 'O') return;
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches('input, select, textarea')) return;
  ui.opacity.value = Number(ui.opacity.value) > 0 ? 0 : 60;
  ui.opacity.dispatchEvent(new Event('input'));
});

// ---- ways out -------------------------------------------------------------------------------

let labelsUrl = null;
const exportButtons = [...document.querySelectorAll('[data-export]')];

function enableDownloads() {
  prepareLabelsDownload();
  updateExportButtons();
}

function updateExportButtons() {
  const canExport = typeof segmenter.export === 'function';
  for (const button of exportButtons) {
    const kind = button.dataset.export;
    button.disabled = !canExport || (kind === 'confidence-png' && !shown.confidence);
  }
  updateMaskButton();
}

function updateMaskButton() {
  const button = $('download-mask');
  const cls = shown?.classes.find((c) => c.id === (view.isolated ?? view.selected));
  button.textContent = cls ? `Mask: ${cls.name}` : 'Selected class';
  button.disabled = !cls || typeof segmenter.export !== 'function';
}

async function prepareLabelsDownload() {
  if (!shown) return;
  const { labels, file } = shown;
  setLabelsLink(null);
  const threshold = view.threshold;
  let blob;
  try {
    blob = typeof segmenter.export === 'function' ? await segmenter.export('labels-png', { threshold }) : await shown.labelsPng;
  } catch {
    return;
  }
  if (shown?.labels === labels && view.threshold === threshold) setLabelsLink(blob, exportName(file.name, 'labels-png'));
}

function setLabelsLink(blob, name) {
  const link = ui.downloadLabels;
  if (labelsUrl) URL.revokeObjectURL(labelsUrl);
  labelsUrl = blob ? URL.createObjectURL(blob) : null;
  if (labelsUrl) {
    link.href = labelsUrl;
    link.download = name;
  } else {
    link.removeAttribute('href');
  }
  link.setAttribute('aria-disabled', String(!blob));
}

for (const button of exportButtons) {
  button.addEventListener('click', async () => {
    if (!shown) return;
    const kind = button.dataset.export;
    const classId = view.isolated ?? view.selected;
    const options = { threshold: view.threshold, ...(kind === 'mask-png' ? { classId } : {}) };
    const cls = shown.classes.find((c) => c.id === classId);
    button.setAttribute('aria-busy', 'true');
    try {
      const blob = await segmenter.export(kind, options);
      saveBlob(blob, exportName(shown.file.name, kind, kind === 'mask-png' ? cls?.name : undefined));
    } catch (error) {
      showError(`Could not prepare the download: ${error.message}`);
    } finally {
      button.removeAttribute('aria-busy');
    }
  });
}
