// The photo's result on screen: the viewer (overlay, split, side by side, confidence; zoom and
// pan), the legend (isolate, hide, highlight, filter, groups), the confidence threshold, the
// repaints (lib/paint-worker.js via lib/painter.js) and the read-out under the pointer. The downloads
// of the shown result: photo-downloads.js.
import { elementsById } from './elements.js';
import { classLut, packRGBA } from '../lib/colorize.js';
import { displaySize, screenScale } from '../lib/display-scale.js';
import { sharedCopy } from '../lib/painter.js';
import { formatPercent, groupsOf, renderLegend, updateLegend } from '../lib/legend.js';
import { createPhotoDownloads } from './photo-downloads.js';
import { createViewer } from './viewer.js';
import { setupTapReadout } from './phone/tap-readout.js';
import { renderTopClasses, updateTopClasses } from './phone/top-classes.js';

/**
 * @param {object} page  painter (lib/painter.js, shared with the photo's decoding),
 *   announce(text) and showError(message) (main.js); the files come from each result's
 *   export() (lib/sceneseg.js)
 * @returns {{show(file, result, photoKey): Promise<void>, showConfidence(result, later, error?): void,
 *   dim(): Promise<void>, restore(): Promise<void>, screenPixels(): number}}  screenPixels: the
 *   long side a photo is decoded at for show() (painter.decode's limit)
 */
export function createPhotoView({ painter, announce, showError }) {
  const ui = elementsById([
    'opacity', 'opacity-value', 'view-mode', 'split-control', 'split', 'zoom-in', 'zoom-out', 'zoom-fit',
    'zoom-actual', 'viewport', 'stage', 'photo', 'overlay', 'split-line', 'placeholder', 'pointer-class',
    'pointer-confidence', 'image-info', 'legend', 'legend-filter', 'group-filter', 'threshold',
    'threshold-value', 'threshold-note', 'details-image', 'timings', 'top-classes',
  ]);

  let shown = null; // {file, labels, confidence (null until it comes), width, height, classes, result}
  const view = { hidden: new Set(), isolated: null, highlighted: null, selected: null, group: '', filter: '', threshold: 0, mode: 'overlay' };
  const downloads = createPhotoDownloads({ view, shown: () => shown, showError });
  const viewer = createViewer({
    viewport: ui.viewport,
    stage: ui.stage,
    photo: ui.photo,
    overlay: ui.overlay,
    splitLine: ui.splitLine,
    onPoint: readOut,
    onChange: followZoom,
  });

  // The canvases hold the shown result at a display scale (lib/display-scale.js): the
  // screen's resolution while the photo fits, twice that per zoom step past it, up to the full
  // resolution. A 12 MP result at fit holds ~1 MP a canvas instead of 12 (four 46 MB bitmaps
  // with the compositor's copies).
  let scale = 1; // what the canvases hold now
  let zoomScale = 0; // the viewer's CSS px per image px (its onChange)
  let rescaleTimer = 0;

  // While the next photo runs, the shown one stays as a preview at the screen's resolution:
  // its bigger bitmaps if it was zoomed in (two 46 MB ones at 1:1 at 12 MP), and the paint
  // worker's labels and confidence, would otherwise meet the next photo's at its memory peak.
  let preview = false;
  let restoring = 0; // the latest restore(); a pick after it cancels it

  /** A new photo is on its way: keep the shown result as a dimmed, screen-sized preview. */
  async function dim() {
    restoring++;
    if (!shown) return;
    painter.clear(); // (also what a cancelled restore() had sent again)
    if (preview) return;
    preview = true;
    ui.stage.classList.add('preview');
    // Its files go with the worker's result once the next photo is read (an export would be refused).
    downloads.disable();
    clearTimeout(rescaleTimer);
    const { width: w, height: h } = displaySize(shown.width, shown.height, screenScaleOf(shown));
    for (const canvas of [ui.photo, ui.overlay]) {
      if (canvas.width <= w) continue; // already screen-sized (not zoomed in)
      const small = await createImageBitmap(canvas, { resizeWidth: w, resizeHeight: h, resizeQuality: 'medium' }).catch(() => null);
      if (!preview) {
        small?.close(); // the next result (or the full one back) came first
        continue;
      }
      showBitmap(canvas, small, { width: w, height: h }); // the CSS size stays the photo's (viewer.setSize)
    }
  }

  /** The next photo failed: the shown result back at its display scale, as it was. */
  async function restore() {
    if (!shown || !preview) return;
    const id = ++restoring;
    const { file, width, height, labels, confidence } = shown;
    // The worker keeps this result when the next photo could not be read (otherwise an export
    // says there is no result).
    downloads.enable();
    painter.setLabels(labels, width, height);
    if (confidence) painter.setConfidence(confidence);
    const wanted = scaleFor(shown);
    const photo = await painter.photo(painter.decode(file, pixelLimit(shown, wanted)), width, height, wanted);
    if (id !== restoring || shown?.file !== file || !preview) return photo?.close(); // another photo picked meanwhile
    preview = false;
    scale = wanted;
    ui.stage.classList.remove('preview');
    showBitmap(ui.photo, photo, photo ?? displaySize(width, height, scale));
    repaint();
  }

  /** The display scale of the screen's resolution for a result (at the viewport's size now). */
  function screenScaleOf({ width, height }) {
    const box = ui.viewport.getBoundingClientRect();
    return screenScale(box.width, box.height, devicePixelRatio, width, height);
  }

  /** The long side, in pixels, of a photo decoded for a display scale (painter.decode). */
  function pixelLimit({ width, height }, wanted) {
    return wanted >= 1 ? Infinity : Math.round(wanted * Math.max(width, height));
  }

  /** The long side, in pixels, of a photo about to be picked: the screen's, as screenScaleOf. */
  function screenPixels() {
    const box = ui.viewport.getBoundingClientRect();
    return Math.max(box.width, box.height, 1) * devicePixelRatio;
  }

  /** The display scale the viewer's zoom needs: the screen's, doubled while it shows too few
   *  pixels for the zoom (5% slack), at most 1. */
  function scaleFor(result) {
    let wanted = result.screenScale;
    while (wanted < 1 && zoomScale * devicePixelRatio > wanted * 1.05) wanted = Math.min(1, wanted * 2);
    return wanted;
  }

  /** The viewer moved or zoomed: once it rests (a pinch is many changes), the canvases at the
   *  scale that zoom needs, the photo decoded again from its file. */
  function followZoom({ scale: cssScale }) {
    zoomScale = cssScale;
    clearTimeout(rescaleTimer);
    if (!shown || preview || scaleFor(shown) === scale) return;
    rescaleTimer = setTimeout(async () => {
      const current = shown;
      const wanted = scaleFor(current);
      if (preview || wanted === scale) return;
      scale = wanted;
      repaint();
      const key = painter.decode(current.file, pixelLimit(current, wanted));
      const photo = await painter.photo(key, current.width, current.height, wanted);
      if (shown !== current || preview || scale !== wanted) return photo?.close(); // moved on meanwhile
      showBitmap(ui.photo, photo, photo ?? displaySize(current.width, current.height, wanted));
    }, 200);
  }

  async function show(file, result, photoKey) {
    // Shared with the paint worker (one copy, not two); the result's own goes.
    const labels = (result.labels = sharedCopy(result.labels));
    const { width, height, classes } = result;
    const start = performance.now();
    preview = false;
    clearTimeout(rescaleTimer);
    ui.stage.classList.remove('preview');
    painter.setLabels(labels, width, height);
    // At the screen's resolution: the viewer fits a new photo.
    const screen = screenScaleOf({ width, height });
    scale = screen;
    const size = displaySize(width, height, scale);
    // The photo drawn upright by paint-worker.js (EXIF applied there, identically everywhere),
    // and the overlay (the engine makes none for the page: segment(file, {overlay: false})).
    const [photo, overlay] = await Promise.all([
      painter.photo(photoKey, width, height, scale),
      painter.paint('classes', classLut(classes), 0, scale),
    ]);
    showBitmap(ui.photo, photo, photo ?? size);
    showBitmap(ui.overlay, overlay, overlay ?? size);
    const renderMs = performance.now() - start;

    shown = { file, labels, confidence: null, width, height, classes, result, screenScale: screen };
    Object.assign(view, { hidden: new Set(), isolated: null, highlighted: null, selected: classes[0]?.id ?? null });
    ui.placeholder.hidden = true;
    viewer.setSize(width, height);
    document.body.classList.add('has-result');
    renderLegend(ui.legend, classes, legendHandlers);
    renderTopClasses(ui.topClasses, classes, legendHandlers);
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
    if (view.mode !== 'overlay' || !overlay) repaint(); // (a superseded paint gave none)
    downloads.enable();
  }

  /** The shown result's confidence map has come (or failed): threshold, view, read-out, download. */
  function showConfidence(result, later, error) {
    if (shown?.result !== result) return; // a newer photo is on screen
    if (!later) {
      ui.thresholdNote.textContent = error ? `No confidence map: ${error.message}` : '';
      return;
    }
    shown.confidence = later.confidence = sharedCopy(later.confidence); // (as the labels)
    if (!preview) painter.setConfidence(later.confidence); // (restore() sends it otherwise)
    ui.threshold.disabled = false;
    ui.thresholdNote.textContent = '';
    ui.viewMode.querySelector('[value=confidence]').disabled = false;
    // The threshold set for the previous photo applies to this one too, now that it can (and
    // to its downloads, which read it when clicked).
    if (view.threshold > 0) repaint();
    downloads.updateButtons();
    ui.timings.dataset.confidence = String(later.ms);
    document.body.dataset.confidence = 'ready'; // for tests and scripts
  }

  /** A bitmap on a canvas of `size` ({width, height}: the bitmap's, or its place's if null). */
  function showBitmap(canvas, bitmap, { width, height }) {
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
    // A label set with no group table (Cityscapes, custom classes): no group filter at all.
    ui.groupFilter.hidden = classes.length > 0 && groups.length === 0;
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
    updateTopClasses(ui.topClasses, view);
    repaint();
    downloads.updateMaskButton();
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
      lut[c.id] = packRGBA(r, g, b, alpha);
    }
    return lut;
  }

  let paintQueued = false;
  /** The overlay drawn again for the view (not a preview's: the paint worker let go of it). */
  function repaint() {
    if (!shown || paintQueued || preview) return;
    paintQueued = true;
    // Coalesce bursts (slider drags, pointer sweeps over the legend) into one paint per frame.
    requestAnimationFrame(async () => {
      paintQueued = false;
      if (preview) return; // a new photo was picked meanwhile
      const threshold = Math.round(view.threshold * 255);
      const { labels } = shown;
      const bitmap = await painter.paint(view.mode === 'confidence' ? 'confidence' : 'classes', lookupTable(), threshold, scale);
      if (bitmap && shown?.labels === labels && !preview) showBitmap(ui.overlay, bitmap, bitmap);
      else bitmap?.close();
    });
  }

  const classAt = (point) => shown.classes.find((c) => c.id === shown.labels[point.y * shown.width + point.x]);
  // Touch screens: a tap names the class under the finger, beside it.
  setupTapReadout(ui.viewport, (clientX, clientY) => {
    const point = shown && viewer.imagePoint(clientX, clientY);
    return (point && classAt(point)?.name) || '';
  });

  function readOut(point) {
    if (!shown || !point) {
      ui.pointerClass.textContent = shown ? 'Point at the image to read a class.' : ui.pointerClass.textContent;
      ui.pointerConfidence.textContent = '';
      return;
    }
    const index = point.y * shown.width + point.x;
    const found = classAt(point);
    ui.pointerClass.textContent = found ? found.name : '';
    ui.pointerConfidence.textContent = shown.confidence ? `${Math.round((shown.confidence[index] / 255) * 100)}% confident` : '';
  }

  // View controls.

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
  ui.threshold.addEventListener('input', () => {
    view.threshold = ui.threshold.value / 100;
    ui.thresholdValue.textContent = `${ui.threshold.value}%`;
    repaint();
    // (The downloads read the threshold when clicked.)
  });
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'o' && event.key !== 'O') return;
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches('input, select, textarea')) return;
    ui.opacity.value = Number(ui.opacity.value) > 0 ? 0 : 60;
    ui.opacity.dispatchEvent(new Event('input'));
  });

  return { show, showConfidence, dim, restore, screenPixels };
}
