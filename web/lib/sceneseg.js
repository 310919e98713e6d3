// SceneSeg's public API: one call to create, one to segment. Everything runs in a worker.
//
//   import { createSegmenter } from './lib/sceneseg.js';
//   const segmenter = createSegmenter({ onProgress: (p) => console.log(p.message) });
//   const result = await segmenter.segment(file);   // Blob or File of an encoded image;
//                                                   // {signal} (AbortSignal) as 2nd argument
//   result.labels            // Uint8Array, width * height class ids, row-major
//   result.classes           // [{id, name, color, pixels, fraction, group: {context, kind},
//                            //   mean_confidence?}], largest first
//   result.overlay           // ImageBitmap: each pixel in its class colour (opaque)
//   result.timings           // ms per stage: queued (waiting for the engine or earlier
//                            // photos), decode, preprocess, model, postprocess, transfer,
//                            // overlay, messaging: together, the time from segment() to result
//   await result.labelsPng   // Blob: the label map as PNG (pixel value = class id)
//   result.confidence        // with segment(file, {confidence: true}): Uint8Array,
//                            // round(p * 255) per pixel, p = softmax probability of its class
//   await result.laterConfidence  // with {confidence: 'after'}: the result comes as soon as
//                            // the labels are there; this resolves with {confidence, classes
//                            // (with mean_confidence), ms} when the map is computed, or null
//                            // if a newer photo (or the signal) dropped it
//
//   await segmenter.export('labels-png', {threshold: 0.5})  // Blob, of the latest result;
//   // kinds: EXPORT_KINDS below. threshold (0..1): pixels whose confidence is below it are
//   // unlabelled: UNLABELLED (255) in the label map, transparent in the overlay, in no mask.
//   exportName('IMG_1234.jpg', 'mask-png', 'chest of drawers')  // 'IMG_1234-mask-chest-of-drawers.png'
//   (letters without accents, digits, '_', '.', '-' only; 'photo' if nothing is left)
//   await segmenter.ready    // {model, backend, threads, startup, cache, ...}: resolves after the
//                            // warm-up run, so a photo segmented from then on runs at full speed;
//                            // segment() may be called earlier: the photo waits for the engine
//   await segmenter.cachedModels()   // [{name, size, sha256, stored}] in IndexedDB
//   await segmenter.clearCachedModels()

/** Raised for input the user can fix (wrong file type, damaged, too large, empty). */
export class InputError extends Error {
  name = 'InputError';
}

/** The label-map value of a pixel whose confidence is below the export threshold. */
export const UNLABELLED = 255;

/**
 * What segmenter.export() can make, with the file name suffix exportName() gives each.
 *   labels-png      8-bit greyscale PNG, pixel = class id (UNLABELLED below the threshold)
 *   overlay-png     RGBA PNG at full resolution, class colours, alpha = options.opacity (0..1)
 *   mask-png        8-bit PNG, 255 = options.classId, 0 elsewhere
 *   masks-zip       one mask PNG per class present, named {id:03d}-{name}.png
 *   confidence-png  16-bit greyscale PNG, value = round(p * 65535)
 *   summary-json    classes (ids, names, groups, pixels, shares, mean confidence), image size,
 *                   model id and sha256, backend, timings, group shares
 */
export const EXPORT_KINDS = {
  'labels-png': 'labels.png',
  'overlay-png': 'overlay.png',
  'mask-png': 'mask.png',
  'masks-zip': 'masks.zip',
  'confidence-png': 'confidence.png',
  'summary-json': 'summary.json',
};

/**
 * A download name for an export of a photo: 'beach.jpg', 'mask-png', 'sea' -> 'beach-mask-sea.png'.
 * Only letters, digits, '-', '_' and '.' are kept from the photo's name (no paths).
 * @param {string} photoName @param {string} kind @param {string} [className]
 */
export function exportName(photoName, kind, className) {
  const suffix = EXPORT_KINDS[kind];
  if (!suffix) throw new TypeError(`unknown export kind ${kind}`);
  const base = String(photoName ?? '').split(/[\\/]/).pop().replace(/\.[^.]*$/, '');
  const clean = (text) => text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\w.-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  const stem = clean(base) || 'photo';
  const [what, ext] = suffix.split('.');
  const label = className ? `-${clean(String(className).toLowerCase())}` : '';
  return `${stem}-${what}${label}.${ext}`;
}

/**
 * @param {{model?: string, snapshot?: boolean, precision?: 'q8'|'fp16'|'fp32', backend?: 'webgpu'|'wasm', webgpuFail?: 'adapter'|'session'|'run'|'lost', onProgress?: (p: {stage: string, message: string, loaded?: number, total?: number}) => void}} [config]
 */
export function createSegmenter(config = {}) {
  const worker = new Worker(new URL('../worker/segment-worker.js', import.meta.url), { type: 'module' });
  const onProgress = config.onProgress ?? (() => {});
  const jobs = new Map(); // id -> {resolve, reject, png?, started?}
  const laterConfidence = new Map(); // id -> deferred, for segment(file, {confidence: 'after'})
  const calls = new Map(); // id -> {resolve, reject} for cache requests
  let results = 0; // results received: export() needs one
  let nextId = 1;
  const warmed = deferred(); // the warm-up run after ready, if one runs
  let readyResolve, readyReject;
  const ready = new Promise((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });

  worker.onmessage = ({ data: message }) => {
    const job = jobs.get(message.id);
    switch (message.type) {
      case 'progress':
        if (message.stage === 'warmed') warmed.resolve({ ms: message.ms });
        else onProgress(message);
        break;
      case 'ready':
        readyResolve(message.info);
        break;
      case 'result': {
        if (!job) break;
        results++;
        const { timings } = message.result;
        // What the stages do not account for: messages, copies between threads.
        const worker = Object.entries(timings).reduce((sum, [k, ms]) => (k.includes('.') ? sum : sum + ms), 0);
        timings.messaging = Math.max(0, performance.now() - job.started - worker);
        const later = laterConfidence.get(message.id);
        job.resolve({ ...message.result, labelsPng: job.png.promise, ...(later && { laterConfidence: later.promise }) });
        break;
      }
      case 'confidence': {
        const later = laterConfidence.get(message.id);
        laterConfidence.delete(message.id);
        if (message.error) later?.reject(new Error(message.error));
        else later?.resolve(message.dropped ? null : { confidence: message.confidence, classes: message.classes, ms: message.ms });
        break;
      }
      case 'cache': {
        const call = calls.get(message.id);
        calls.delete(message.id);
        if (message.error) call?.reject(new Error(message.error));
        else call?.resolve(message.entries);
        break;
      }
      case 'export':
        job?.resolve(new Blob([message.data], { type: message.mime }));
        jobs.delete(message.id);
        break;
      case 'reply': // segmentFrame, batch.*: one message answers the call
        job?.resolve(message.value);
        jobs.delete(message.id);
        break;
      case 'labels-png':
        job?.png.resolve(new Blob([message.png], { type: 'image/png' }));
        jobs.delete(message.id);
        break;
      case 'error': {
        const error = message.kind === 'input' ? new InputError(message.message) : new Error(message.message);
        if (job) {
          job.reject(error);
          job.png?.reject(error);
          jobs.delete(message.id);
          laterConfidence.get(message.id)?.resolve(null);
          laterConfidence.delete(message.id);
        } else {
          readyReject(error);
        }
        break;
      }
    }
  };
  // A worker that dies (failed to load, out of memory) must not leave callers waiting forever.
  worker.onerror = (event) => {
    const error = new Error(`The segmentation worker stopped: ${event.message || 'unknown error'}`);
    readyReject(error);
    for (const job of jobs.values()) {
      job.reject(error);
      job.png?.reject(error);
    }
    jobs.clear();
    for (const later of laterConfidence.values()) later.reject(error);
    laterConfidence.clear();
  };
  // Served by the service worker: the app's files are local and were verified when cached.
  const controlled = Boolean(globalThis.navigator?.serviceWorker?.controller);
  // backend: 'webgpu' | 'wasm' | undefined (automatic); webgpuFail: tests of the fallback only.
  // snapshot: false starts Python afresh instead of from its stored snapshot.
  const { model, precision, backend, webgpuFail, snapshot } = config;
  worker.postMessage({ type: 'init', model, precision, backend, webgpuFail, controlled, snapshot });

  function cacheCall(action) {
    const id = nextId++;
    worker.postMessage({ type: 'cache', id, action });
    return new Promise((resolve, reject) => calls.set(id, { resolve, reject }));
  }

  /** A request answered by one 'reply' (or 'error') message. */
  function call(message, transfer = []) {
    const id = nextId++;
    const noPng = { resolve() {}, reject() {} };
    const result = new Promise((resolve, reject) => jobs.set(id, { resolve, reject, png: noPng }));
    worker.postMessage({ ...message, id }, transfer);
    return result;
  }

  return {
    /** Resolves with {model, precision, backend, choice: {backend, precision, file, reason}, versions}
     *  once the model is loaded. A later switch from WebGPU to WASM comes as a progress
     *  message with stage 'backend' and the new choice. */
    ready,
    /** Resolves with {ms} when the warm-up run after ready is done: from then on a photo gets
     *  steady-state speed. Never resolves when a photo was already waiting at ready (its own
     *  run warmed the model instead) or on a software GPU adapter. For diagnostics. */
    warmed: warmed.promise,
    /**
     * @param {Blob} file
     * @param {{signal?: AbortSignal, confidence?: boolean|'after'}} [options]  abort: the job is
     *     dropped if it has not started, its result discarded if it has; the promise rejects
     *     with signal.reason. confidence: true: also compute result.confidence before the
     *     result comes (costs seconds at 12 MP); 'after': result.laterConfidence, computed
     *     once the result is out.
     */
    async segment(file, { signal, confidence = false } = {}) {
      signal?.throwIfAborted();
      const id = nextId++;
      const png = deferred();
      png.promise.catch(() => {}); // a failed job rejects both; the caller sees the first
      const started = performance.now();
      const result = new Promise((resolve, reject) => jobs.set(id, { resolve, reject, png, started }));
      if (confidence === 'after') {
        const later = deferred();
        later.promise.catch(() => {}); // callers that never look at it see no unhandled rejection
        laterConfidence.set(id, later);
      }
      worker.postMessage({ type: 'segment', id, file, confidence: confidence === 'after' ? 'after' : Boolean(confidence) });
      signal?.addEventListener(
        'abort',
        () => {
          const job = jobs.get(id);
          const later = laterConfidence.get(id);
          if (!job && !later) return;
          jobs.delete(id);
          laterConfidence.delete(id);
          job?.reject(signal.reason);
          job?.png.reject(signal.reason);
          later?.resolve(null);
          worker.postMessage({ type: 'cancel', id });
        },
        { once: true },
      );
      return result;
    },
    /** Model files stored in IndexedDB: [{name, size, sha256, stored}]. */
    cachedModels: () => cacheCall('list'),
    /** Delete them; the next start downloads the model again. */
    clearCachedModels: () => cacheCall('clear'),
    /**
     * The latest result as a file, encoded in the worker. Rejects (InputError) when there is
     * no result yet or the options do not fit.
     * @param {keyof EXPORT_KINDS} kind
     * @param {{threshold?: number, classId?: number, opacity?: number}} [options]
     * @returns {Promise<Blob>}
     */
    export(kind, options = {}) {
      if (!(kind in EXPORT_KINDS)) {
        return Promise.reject(new InputError(`Unknown export "${kind}"; one of: ${Object.keys(EXPORT_KINDS).join(', ')}.`));
      }
      if (!results) return Promise.reject(new InputError('There is no result to export: segment a photo first.'));
      const id = nextId++;
      const blob = new Promise((resolve, reject) => jobs.set(id, { resolve, reject }));
      worker.postMessage({ type: 'export', id, kind, options: { ...options } });
      return blob;
    },
    /**
     * Video: one frame (VideoFrame or ImageBitmap, transferred and closed) -> labels at
     * labelWidth x labelHeight (default: the input size) with the overlay as an ImageBitmap.
     * The frame is scaled to inputWidth x inputHeight on the way in. Logits are smoothed
     * across calls: s = alpha * l + (1 - alpha) * s_prev (alpha 1 = off); reset: true starts
     * afresh (a seek); scene cuts are detected in the worker. Resolves with null if a newer
     * frame replaced this one before it started (the latest frame wins).
     * @param {VideoFrame|ImageBitmap} frame
     * @param {{inputWidth: number, inputHeight: number, alpha?: number, reset?: boolean, labelWidth?: number, labelHeight?: number}} options
     */
    segmentFrame(frame, options) {
      return call({ type: 'segment-frame', alpha: 0.6, reset: false, ...options, frame }, [frame]);
    },
    /** Batches: photos one at a time into one zip built in the worker (see web/worker/batch-zip.js). */
    batch: {
      start: () => call({ type: 'batch-start' }),
      /** -> {stem, width, height, classes, timings, thumb: Blob (overlay PNG, <= 320 px)} or {error} (unreadable photo) */
      add: (file, name = file.name) => call({ type: 'batch-add', file, name }),
      /** -> Blob of the zip */
      finish: () => call({ type: 'batch-finish' }),
      cancel: () => call({ type: 'batch-cancel' }),
    },
    dispose() {
      worker.terminate();
      for (const job of jobs.values()) {
        job.reject(new Error('disposed'));
        job.png?.reject(new Error('disposed'));
      }
      jobs.clear();
      for (const later of laterConfidence.values()) later.resolve(null);
      laterConfidence.clear();
    },
  };
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
