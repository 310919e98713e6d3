// The iframe widget: a compact page a site owner embeds, driven by postMessage (protocol in
// embed/README.md). Only allow-listed origins are heard and answered; replies go to the
// requester's origin only (never to '*'); a malformed request gets an error reply, never an
// exception.
import { createSegmenter, InputError, RESOLUTIONS } from '../lib/sceneseg.js';
import { formatPercent } from '../lib/legend.js';
import { createPainter } from '../lib/painter.js';

export const PROTOCOL = 1;
// The summaries a request may ask for (options.summary): 1, v1's own shape (the default), mapped
// from the summary schema; 2, the summary schema itself (docs/summary-schema.md).
export const SUMMARIES = [1, 2];
const MAX_BYTES = 200e6; // a request larger than this is refused before decoding

const $ = (id) => document.getElementById(id);
const ui = { file: $('file'), status: $('status'), announce: $('announce'), error: $('error'), photo: $('photo'), overlay: $('overlay'), placeholder: $('placeholder'), legend: $('legend') };

/** The origins allowed to talk to the widget: build-time config first, then the URL. */
export async function allowedOrigins() {
  let config = { allowed_origins: [], allow_url_origins: true };
  try {
    config = { ...config, ...(await (await fetch('embed-config.json')).json()) };
  } catch {
    // No config shipped: the defaults (URL parameter, else own origin).
  }
  const fromConfig = normalise(config.allowed_origins ?? []);
  const param = new URLSearchParams(location.search).get('origins');
  const fromUrl = param === null ? null : normalise(param.split(/[\s,]+/));
  if (fromConfig.length) return fromUrl ? fromConfig.filter((o) => fromUrl.includes(o)) : fromConfig;
  if (config.allow_url_origins && fromUrl) return fromUrl;
  return [location.origin];
}

function normalise(list) {
  const out = [];
  for (const entry of list) {
    try {
      const origin = new URL(String(entry)).origin;
      if (origin !== 'null' && !out.includes(origin)) out.push(origin);
    } catch {
      // not a URL: ignored ('*' included: there is no wildcard)
    }
  }
  return out;
}

const allowed = await allowedOrigins();
const framed = window.parent !== window;
// Where the browser says who embeds us (Chromium, Safari), a page not on the list gets a
// widget that does nothing. Elsewhere the server's frame-ancestors header is the guard.
const parentOrigin = framed ? location.ancestorOrigins?.[0] : undefined;
const refused = framed && parentOrigin !== undefined && !allowed.includes(parentOrigin);

function toParent(message, transfer = []) {
  if (!framed) return;
  // Unsolicited messages (ready, loading progress) go to the parent under each allowed origin:
  // the browser delivers at most one of them, and only if the parent has that origin.
  const targets = parentOrigin ? [parentOrigin] : allowed;
  for (const origin of targets) if (allowed.includes(origin)) window.parent.postMessage(message, { targetOrigin: origin, transfer });
}

function reply(event, message, transfer = []) {
  try {
    event.source?.postMessage(message, { targetOrigin: event.origin, transfer });
  } catch {
    // The requester went away.
  }
}

let readyInfo = null;
let segmenter = null;
if (refused) {
  ui.status.textContent = 'This widget is not enabled for this site.';
  document.body.dataset.refused = 'true';
} else {
  start();
}

function start() {
  let lastStage = '';
  segmenter = createSegmenter({
    onProgress: ({ stage, message, loaded, total }) => {
      const known = total > 0 && loaded !== undefined;
      ui.status.textContent = known ? `${message} ${Math.round((100 * loaded) / total)}%` : message;
      if (stage !== lastStage) {
        lastStage = stage;
        ui.announce.textContent = message;
        toParent({ type: 'progress', stage, message });
      }
    },
  });
  segmenter.ready.then(
    (info) => {
      readyInfo = { protocol: PROTOCOL, summaries: SUMMARIES, resolutions: RESOLUTIONS, model: info.model, precision: info.precision, backend: info.backend };
      ui.status.textContent = 'Ready';
      ui.announce.textContent = 'Ready: choose a photo.';
      document.body.dataset.ready = 'true';
      toParent({ type: 'ready', ...readyInfo });
    },
    (error) => {
      showError(`Could not start: ${error.message}`);
      toParent({ type: 'error', id: null, code: 'engine', message: error.message });
    },
  );
  window.addEventListener('message', onMessage);
  ui.file.addEventListener('change', () => {
    const [file] = ui.file.files;
    ui.file.value = '';
    if (file) segmentLocal(file);
  });
}

// ---- requests from the host -----------------------------------------------------------------

const jobs = new Map(); // id -> AbortController

function onMessage(event) {
  // Not on the list: ignored entirely, not even an error (that would confirm we exist).
  if (!allowed.includes(event.origin)) return;
  try {
    handle(event);
  } catch (error) {
    reply(event, { type: 'error', id: validId(event.data?.id) ? event.data.id : null, code: 'internal', message: String(error?.message ?? error) });
  }
}

const validId = (id) => (typeof id === 'string' && id.length > 0 && id.length <= 200) || Number.isFinite(id);

function handle(event) {
  const data = event.data;
  const bad = (message, id = null) => reply(event, { type: 'error', id, code: 'bad-request', message });
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return bad('A request is an object {type, id, ...}.');
  const id = validId(data.id) ? data.id : null;
  switch (data.type) {
    case 'hello':
      reply(event, readyInfo ? { type: 'ready', id, ...readyInfo } : { type: 'progress', id, stage: 'loading', message: ui.status.textContent });
      return;
    case 'cancel':
      if (id === null) return bad('cancel needs the id of a request.');
      jobs.get(id)?.abort();
      return;
    case 'segment': {
      if (id === null) return bad('segment needs an id: a non-empty string or a number.');
      if (jobs.has(id)) return bad(`A request with id ${JSON.stringify(id)} is already running.`, id);
      const options = data.options ?? {};
      if (typeof options !== 'object' || Array.isArray(options)) return bad('options must be an object.', id);
      if (options.summary !== undefined && !SUMMARIES.includes(options.summary)) {
        return bad(`options.summary must be one of ${SUMMARIES.join(', ')}.`, id);
      }
      if (options.resolution !== undefined && !RESOLUTIONS.includes(options.resolution)) {
        return bad(`options.resolution must be one of ${RESOLUTIONS.join(', ')}.`, id);
      }
      const blob = toBlob(data.image);
      if (blob instanceof Promise) {
        segmentRequest(event, id, blob, options);
        return;
      }
      if (!blob) return bad('image must be a Blob, File, ArrayBuffer, typed array or ImageBitmap.', id);
      if (blob.size === 0) return bad('image is empty (0 bytes).', id);
      if (blob.size > MAX_BYTES) return bad(`image is larger than ${MAX_BYTES / 1e6} MB.`, id);
      segmentRequest(event, id, blob, options);
      return;
    }
    default:
      return bad(`Unknown request type ${JSON.stringify(String(data.type)).slice(0, 60)}; expected segment, cancel or hello.`, id);
  }
}

/** A Blob of encoded image bytes, a Promise of one (ImageBitmap: encoded as PNG), or null. */
function toBlob(image) {
  if (image instanceof Blob) return image;
  if (image instanceof ArrayBuffer) return new Blob([image]);
  if (ArrayBuffer.isView(image)) return new Blob([image]);
  if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) {
    if (!image.width || !image.height) return null;
    const canvas = new OffscreenCanvas(image.width, image.height);
    canvas.getContext('bitmaprenderer').transferFromImageBitmap(image);
    return canvas.convertToBlob({ type: 'image/png' }); // lossless: the labels see its pixels
  }
  return null;
}

// Requests run one at a time, in order (the photos the visitor picks inside the widget too):
// a result's summary is made from the worker's latest result, so the next photo waits for it.
let turn = Promise.resolve();
function inTurn(task) {
  const run = turn.then(task);
  turn = run.catch(() => {});
  return run;
}

function segmentRequest(event, id, blobOrPromise, options) {
  const controller = new AbortController();
  jobs.set(id, controller);
  reply(event, { type: 'progress', id, stage: readyInfo ? 'segmenting' : 'queued', message: readyInfo ? 'Segmenting' : 'Queued until the engine is ready' });
  return inTurn(() => answer(event, id, blobOrPromise, options, controller));
}

async function answer(event, id, blobOrPromise, options, controller) {
  try {
    controller.signal.throwIfAborted();
    const blob = await blobOrPromise;
    const file = blob instanceof File ? blob : new File([blob], 'image', { type: blob.type });
    // Detail runs several model windows: the host hears of each ({stage: 'window', done, total}).
    const onProgress = ({ stage, done, total }) => total > 1 && reply(event, { type: 'progress', id, stage, done, total, message: `Window ${done} of ${total} done` });
    const result = await segmentAndShow(file, controller.signal, options.confidence === true, { resolution: options.resolution, onProgress });
    // The summary schema, as the page's download writes it (made in the worker now, before the
    // next request's photo can replace this result there: requests run one at a time).
    const named = blob instanceof File ? { name: blob.name } : {}; // the schema's photo
    // Each class's mean confidence needs the confidence map (2-3 s more at 12 MP): only when
    // the host asked for confidence.
    const summaryOptions = { ...named, confidence: options.confidence === true };
    const schema = JSON.parse(await (await result.export('summary-json', summaryOptions)).text());
    const message = {
      type: 'result',
      id,
      width: result.width,
      height: result.height,
      labels: result.labels, // Uint8Array, width * height class ids (255 = unlabelled)
      summary: options.summary === 2 ? schema : summaryV1(schema, result),
      resolution: result.resolution, // {mode, input: [w, h], windows}
    };
    const transfer = [result.labels.buffer];
    if (options.overlay === true) {
      message.overlay = await createImageBitmap(ui.overlay);
      transfer.push(message.overlay);
    }
    if (options.confidence === true && result.confidence) {
      message.confidence = result.confidence;
      transfer.push(result.confidence.buffer);
    }
    reply(event, message, transfer);
  } catch (error) {
    if (controller.signal.aborted) {
      reply(event, { type: 'error', id, code: 'cancelled', message: 'Cancelled.' });
    } else {
      const code = error instanceof InputError ? 'bad-image' : 'engine';
      reply(event, { type: 'error', id, code, message: error.message });
    }
  } finally {
    jobs.delete(id);
  }
}

// ---- segmenting and showing -----------------------------------------------------------------

const painter = createPainter();
let shownCount = 0;

async function segmentAndShow(file, signal, confidence, { resolution, onProgress } = {}) {
  showError('');
  ui.status.textContent = readyInfo ? 'Segmenting…' : 'Queued until the engine is ready…';
  const key = painter.decode(file);
  let result;
  try {
    result = await segmenter.segment(file, { signal, confidence, resolution, onProgress });
  } catch (error) {
    painter.drop(key);
    throw error;
  }
  const photo = await painter.photo(key, result.width, result.height);
  // The host gets its own copy of the labels; the widget keeps showing the result.
  const copy = { ...result, labels: result.labels.slice(), confidence: result.confidence?.slice() };
  show(ui.photo, photo, result.width, result.height);
  show(ui.overlay, result.overlay, result.width, result.height);
  ui.placeholder.hidden = true;
  ui.legend.replaceChildren(
    ...result.classes.slice(0, 6).map((c) => {
      const item = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `rgb(${c.color.join(',')})`;
      item.append(swatch, `${c.name} ${formatPercent(c.fraction)}`);
      return item;
    }),
  );
  const largest = result.classes.slice(0, 5).map((c) => `${c.name} ${formatPercent(c.fraction)}`).join(', ');
  ui.overlay.setAttribute('aria-label', `Segmented photo: ${largest}`);
  ui.status.textContent = `${result.width}×${result.height} · ${result.classes.length} classes`;
  ui.announce.textContent = `Done: ${largest}.`;
  document.body.dataset.result = String(++shownCount);
  return copy;
}

function show(canvas, bitmap, width, height) {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('bitmaprenderer').transferFromImageBitmap(bitmap ?? null);
}

async function segmentLocal(file) {
  // A photo the visitor picks inside the widget stays inside it: nothing is posted to the host.
  try {
    await inTurn(() => segmentAndShow(file, undefined, false));
  } catch (error) {
    showError(error instanceof InputError ? `${file.name}: ${error.message}` : error.message);
  }
}

/** Protocol 1's summary, mapped from the summary schema (`schema`); the model's name and
 *  the timings (with the page's own stages) come from the engine's ready info and `result`. */
function summaryV1(schema, result) {
  return {
    width: schema.width,
    height: schema.height,
    backend: schema.backend,
    model: readyInfo?.model ? { id: readyInfo.model.id, name: readyInfo.model.name, precision: readyInfo.precision } : null,
    timings: result.timings,
    unlabelled: 255,
    classes: schema.classes.map(({ id, name, color, pixels, fraction, group, mean_confidence: meanConfidence }) => ({
      id, name, color, pixels, fraction, ...(group != null && { group }), ...(meanConfidence != null && { mean_confidence: meanConfidence }),
    })),
  };
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}
