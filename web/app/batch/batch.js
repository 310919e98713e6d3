// Batch mode: many photos, one after another, each one's state in a list, a total progress
// bar with the time left, and one zip of everything built in the worker as the photos finish.
// The page keeps per photo only its File (a handle, not its pixels), a small overlay PNG and
// its class list, so memory stays flat however long the batch.
import { formatPercent } from '../../lib/legend.js';

const $ = (id) => document.getElementById(id);
let api = null; // set by setupBatch

/** Hand photos over from elsewhere on the page (e.g. several files dropped on the photo view). */
export function startBatch(files) {
  if (!api) throw new Error('setupBatch() first');
  api.start(files);
}

export function setupBatch(segmenter, { showMode = () => {} } = {}) {
  const ui = {
    section: $('batch'),
    files: $('batch-files'),
    folder: $('batch-folder'),
    cancel: $('batch-cancel'),
    download: $('batch-download'),
    progress: $('batch-progress'),
    status: $('batch-status'),
    list: $('batch-list'),
    view: $('batch-view'),
    viewPhoto: $('batch-view-photo'),
    viewOverlay: $('batch-view-overlay'),
    viewCaption: $('batch-view-caption'),
  };
  let items = []; // {file, name, state, reason?, element, thumbUrl?, classes?}
  let running = false;
  let cancelled = false;
  let zipUrl = null;
  let started = 0;
  let doneTime = 0; // ms spent on finished photos (done or failed)

  const images = (files) => [...files].filter((f) => f.type.startsWith('image/') || /\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i.test(f.name));

  ui.files.addEventListener('change', () => pick(ui.files));
  ui.folder.addEventListener('change', () => pick(ui.folder));
  function pick(input) {
    const files = [...input.files];
    input.value = '';
    if (files.length) start(files);
  }
  ui.section.addEventListener('dragover', (event) => {
    event.preventDefault();
    ui.section.classList.add('dragging');
  });
  ui.section.addEventListener('dragleave', () => ui.section.classList.remove('dragging'));
  ui.section.addEventListener('drop', (event) => {
    event.preventDefault();
    ui.section.classList.remove('dragging');
    start([...event.dataTransfer.files]);
  });
  ui.cancel.addEventListener('click', () => {
    if (!running) return;
    cancelled = true;
    ui.status.textContent = 'Cancelling…';
  });

  function start(files) {
    showMode('batch');
    const photos = images(files);
    // A folder may hold other files: they are listed as skipped, never sent to the model.
    const others = files.filter((f) => !photos.includes(f));
    if (running) {
      // More photos while a batch runs: they join its queue and its zip.
      add(photos, others);
      return;
    }
    for (const item of items) if (item.thumbUrl) URL.revokeObjectURL(item.thumbUrl);
    items = [];
    ui.list.replaceChildren();
    ui.view.hidden = true;
    setZip(null);
    add(photos, others);
    run();
  }

  function add(photos, others) {
    for (const file of photos) items.push(makeItem(file, 'queued'));
    for (const file of others) items.push(makeItem(file, 'skipped', 'not an image'));
    updateProgress();
  }

  function makeItem(file, state, reason) {
    const element = document.createElement('li');
    const name = file.webkitRelativePath || file.name;
    const item = { file, name, state, reason, element };
    element.innerHTML = '<img alt="" width="48" height="36"><span class="name"></span><span class="state"></span>';
    element.querySelector('.name').textContent = name;
    element.tabIndex = 0;
    element.addEventListener('click', () => preview(item));
    element.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && preview(item));
    setState(item, state, reason);
    ui.list.append(element);
    return item;
  }

  function setState(item, state, reason = '') {
    item.state = state;
    item.reason = reason;
    item.element.dataset.state = state;
    const text = { queued: 'queued', running: 'running…', done: 'done', failed: 'failed', skipped: 'skipped', cancelled: 'cancelled' }[state];
    item.element.querySelector('.state').textContent = reason ? `${text}: ${reason}` : text;
  }

  async function run() {
    running = true;
    cancelled = false;
    started = performance.now();
    doneTime = 0;
    ui.cancel.disabled = false;
    ui.section.dataset.state = 'running';
    try {
      ui.section.dataset.zipStore = await segmenter.batch.start(); // 'opfs' (disk) or 'memfs'
      for (let i = 0; i < items.length && !cancelled; i++) {
        const item = items[i];
        if (item.state !== 'queued') continue;
        setState(item, 'running');
        updateProgress();
        const t = performance.now();
        try {
          const result = await segmenter.batch.add(item.file, item.name);
          if (result.error) {
            setState(item, 'failed', result.error);
          } else {
            item.classes = result.classes;
            item.size = [result.width, result.height];
            item.thumbUrl = URL.createObjectURL(result.thumb);
            item.element.querySelector('img').src = item.thumbUrl;
            setState(item, 'done');
          }
        } catch (error) {
          // One bad file never stops the batch.
          setState(item, 'failed', error.message);
        }
        doneTime += performance.now() - t;
        updateProgress();
      }
      if (cancelled) {
        for (const item of items) if (item.state === 'queued') setState(item, 'cancelled');
        await segmenter.batch.cancel();
        ui.section.dataset.state = 'cancelled';
      } else {
        setZip(await segmenter.batch.finish());
        ui.section.dataset.state = 'done';
      }
    } catch (error) {
      ui.status.textContent = `The batch stopped: ${error.message}`;
      ui.section.dataset.state = 'failed';
    } finally {
      running = false;
      ui.cancel.disabled = true;
      updateProgress();
    }
  }

  function updateProgress() {
    const todo = items.filter((i) => i.state === 'queued' || i.state === 'running').length;
    const finished = items.filter((i) => i.state === 'done' || i.state === 'failed').length;
    const failed = items.filter((i) => i.state === 'failed').length;
    const total = finished + todo;
    ui.progress.max = Math.max(1, total);
    ui.progress.value = finished;
    let text = `${finished} of ${total} photos`;
    if (failed) text += ` · ${failed} failed`;
    if (running && !cancelled && finished > 0 && todo > 0) {
      text += ` · about ${duration((doneTime / finished) * todo)} left`;
    } else if (!running && ui.section.dataset.state === 'done') {
      text += ` · ${duration(performance.now() - started)} in all`;
    } else if (ui.section.dataset.state === 'cancelled') {
      text += ' · cancelled';
    }
    ui.status.textContent = text;
    Object.assign(ui.section.dataset, { done: String(finished - failed), failed: String(failed), todo: String(todo) });
  }

  function setZip(blob) {
    if (zipUrl) URL.revokeObjectURL(zipUrl);
    zipUrl = blob ? URL.createObjectURL(blob) : null;
    if (zipUrl) {
      ui.download.href = zipUrl;
      ui.download.download = 'sceneseg-batch.zip';
    } else {
      ui.download.removeAttribute('href');
    }
    ui.download.setAttribute('aria-disabled', String(!blob));
  }

  async function preview(item) {
    if (item.state !== 'done') return;
    ui.view.hidden = false;
    const [w, h] = item.size;
    ui.viewOverlay.src = item.thumbUrl;
    ui.viewOverlay.alt = `${item.name}, segmented: ${item.classes.slice(0, 5).map((c) => c.name).join(', ')}`;
    ui.viewCaption.textContent = `${item.name} · ${w}×${h} · ` + item.classes.slice(0, 6).map((c) => `${c.name} ${formatPercent(c.fraction)}`).join(' · ');
    // The photo is decoded again, small, only when it is looked at.
    const scale = Math.min(1, 480 / Math.max(w, h));
    const bitmap = await createImageBitmap(item.file, {
      imageOrientation: 'from-image',
      resizeWidth: Math.round(w * scale),
      resizeHeight: Math.round(h * scale),
    }).catch(() => null);
    ui.viewPhoto.width = Math.round(w * scale);
    ui.viewPhoto.height = Math.round(h * scale);
    ui.viewPhoto.getContext('bitmaprenderer').transferFromImageBitmap(bitmap);
  }

  api = { start };
  return api;
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
