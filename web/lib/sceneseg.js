// SceneSeg's public API: one call to create, one to segment. Everything runs in a worker.
//
//   import { createSegmenter } from './lib/sceneseg.js';
//   const segmenter = createSegmenter({ onProgress: (p) => console.log(p.message) });
//   const result = await segmenter.segment(file);   // Blob or File of an encoded image;
//                                                   // {signal} (AbortSignal) as 2nd argument
//   segmenter.segment(file, {resolution: 'keep'})   // what the model sees (RESOLUTIONS):
//                            // 'square' (default): 512x512, the photo squeezed;
//                            // 'keep': the photo's shape, short side 512 (long side <= 4x);
//                            // 'detail': big photos in 512x512 windows at up to twice that
//                            // (docs/resolution.md); {onProgress: ({stage: 'window', done,
//                            // total}) => ...} hears of each window; an abort stops the run
//                            // within one window
//   result.resolution        // {mode, input: [w, h], windows}: what the model saw
//   await segmenter.resolutionPlan(width, height)  // {square, keep, detail}: each {input:
//                            // [w, h], windows} for a photo of that size (to show costs)
//   result.labels            // Uint8Array, width * height class ids, row-major
//   result.classes           // [{id, name, color, pixels, fraction, group: {context, kind},
//                            //   mean_confidence?}], largest first
//   result.overlay           // ImageBitmap: each pixel in its class colour (opaque); null
//                            // with segment(file, {overlay: false}) (a caller that draws its
//                            // own: the app, at the screen's size)
//   result.timings           // ms per stage: queued (waiting for the engine or earlier
//                            // photos), decode, preprocess, model, postprocess, transfer,
//                            // overlay, messaging: together, the time from segment() to result
//   await result.labelsPng   // Blob: the label map as PNG (pixel value = class id), encoded
//                            // in the worker when first awaited (spreading or storing the
//                            // result asks for nothing); the worker holds only the latest
//                            // result, so for an older one it rejects with StaleResultError:
//                            // await it before segmenting the next photo
//   await result.export(kind, options)   // Blob: a file of this result (kinds as
//                            // segmenter.export); StaleResultError once a newer one replaced it
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
//   await segmenter.ready    // {model, backend, threads, startup, cache, ...}: resolves as soon
//                            // as a photo can be taken (a short warm-up follows, which a photo
//                            // picked then interrupts); segment() may be called earlier: the
//                            // photo waits for the engine
//   await segmenter.classShares('csv', rows)   // Blob: class shares of several images as
//                            // CSV or JSON (the batches' layout), rows: [{photo, width, height,
//                            // classes: [{id, pixels}]}] (the video mode's per-frame shares)
//   await segmenter.cachedModels()   // [{name, size, sha256, stored}] in IndexedDB
//   await segmenter.clearCachedModels()

import { createRequester, InputError, StaleResultError } from './engine-protocol.js';

// InputError: input the user can fix (wrong file type, damaged, too large, empty).
// StaleResultError: a file asked of a result the worker no longer holds (see labelsPng above).
export { InputError, StaleResultError };

/** The resolution modes of segment(file, {resolution}); the first is the default. */
export const RESOLUTIONS = ['square', 'keep', 'detail'];

/** The label-map value of a pixel whose confidence is below the export threshold. */
export const UNLABELLED = 255;

/**
 * What segmenter.export() can make, with the file name suffix exportName() gives each.
 *   labels-png      8-bit greyscale PNG, pixel = class id (UNLABELLED below the threshold)
 *   overlay-png     RGBA PNG at full resolution, class colours, alpha = options.opacity (0..1)
 *   mask-png        8-bit PNG, 255 = options.classId, 0 elsewhere
 *   masks-zip       one mask PNG per class present, named {id:03d}-{name}.png
 *   confidence-png  16-bit greyscale PNG, value = round(p * 65535)
 *   summary-json    the summary schema (docs/summary-schema.md): photo (options.name), width,
 *                   height, model, backend, timings, classes (with mean confidence, unless
 *                   options.confidence is false), group shares
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
 * @param {{model?: string, snapshot?: boolean, precision?: 'q8'|'fp16'|'fp32', backend?: 'webgpu'|'wasm', webgpuFail?: 'adapter'|'session'|'run'|'lost', buildInfo?: string|Promise<string>, onProgress?: (p: {stage: string, message: string, loaded?: number, total?: number}) => void}} [config]
 *   buildInfo: build-info.json's text, or a promise of it, for a page that reads the file
 *   itself: the worker then does not fetch it again. Optional: without it the worker does.
 */
export function createSegmenter(config = {}) {
  const worker = new Worker(new URL('../worker/segment-worker.js', import.meta.url), { type: 'module' });
  const onProgress = config.onProgress ?? (() => {});
  let results = 0; // results received: export() needs one
  const warmed = deferred(); // the warm-up run after ready, if one runs
  const ready = deferred();
  ready.promise.catch(() => {}); // a caller that never awaits it sees no unhandled rejection

  // Every request, of every kind, waits in the requester's one map (lib/engine-protocol.js).
  const requests = createRequester(worker, (event) => {
    if (event.type === 'progress') onProgress(event);
    else if (event.type === 'backend') onProgress({ stage: 'backend', message: event.message, choice: event.choice });
    else if (event.type === 'ready') ready.resolve(event.info);
    else if (event.type === 'warmed') warmed.resolve({ ms: event.ms, runs: event.runs });
    else if (event.type === 'failed') ready.reject(new Error(event.message));
  });
  const call = (type, fields, transfer) => requests.request(type, fields, { transfer }).promise;
  const toBlob = ({ data, mime }) => new Blob([data], { type: mime });
  // A worker that dies (failed to load, out of memory) must not leave callers waiting forever.
  worker.onerror = (event) => {
    const error = new Error(`The segmentation worker stopped: ${event.message || 'unknown error'}`);
    ready.reject(error);
    requests.stop(error);
  };
  // Served by the service worker: the app's files are local and were verified when cached.
  const controlled = Boolean(globalThis.navigator?.serviceWorker?.controller);
  // backend: 'webgpu' | 'wasm' | undefined (automatic); webgpuFail: tests of the fallback only.
  // snapshot: false starts Python afresh instead of from its stored snapshot.
  const { model, precision, backend, webgpuFail, snapshot, buildInfo } = config;
  const init = { type: 'init', model, precision, backend, webgpuFail, controlled, snapshot, pageOrigin: performance.timeOrigin };
  // build-info.json's text (it keys Python's snapshot, so the text, not a parsed copy). A
  // promise of it does not hold up the worker's start: the worker loads its modules meanwhile,
  // and messages posted before 'init' wait behind it. If it fails, the worker fetches the file.
  if (typeof buildInfo?.then === 'function') {
    postFirst(worker, Promise.resolve(buildInfo).then((text) => ({ ...init, buildInfo: text }), () => init));
  } else {
    worker.postMessage({ ...init, buildInfo }); // (the notice 'init': engine-protocol.js)
  }

  /** A file of segment request `photo`'s result (the worker refuses it once it is stale). */
  function exportOf(photo, kind, options = {}) {
    if (!(kind in EXPORT_KINDS)) {
      return Promise.reject(new InputError(`Unknown export "${kind}"; one of: ${Object.keys(EXPORT_KINDS).join(', ')}.`));
    }
    return call('export', { kind, options: { ...options }, ...(photo !== undefined && { photo }) }).then(toBlob);
  }

  /** A thenable that asks for the label PNG when its then() is first called, then keeps it. */
  function lazyLabelsPng(photo) {
    let png = null;
    const get = () => (png ??= exportOf(photo, 'labels-png'));
    return {
      then: (onDone, onError) => get().then(onDone, onError),
      catch: (onError) => get().catch(onError),
      finally: (onFinally) => get().finally(onFinally),
    };
  }

  return {
    /** Resolves with {model, precision, backend, choice: {backend, precision, file, reason}, versions}
     *  once the model is loaded. A later switch from WebGPU to WASM comes as a progress
     *  message with stage 'backend' and the new choice. */
    ready: ready.promise,
    /** Resolves with {ms, runs} when the warm-up after ready is done: from then on a photo
     *  gets steady-state speed. It stops early (fewer runs) when a photo comes during it, and
     *  never resolves when a photo was already waiting at ready (its own run warmed the model
     *  instead) or on a software GPU adapter. For diagnostics. */
    warmed: warmed.promise,
    /**
     * @param {Blob} file
     * @param {{signal?: AbortSignal, confidence?: boolean|'after', resolution?: 'square'|'keep'|'detail', overlay?: boolean, onProgress?: (p: {stage: 'window', done: number, total: number}) => void}} [options]
     *     abort: the job is dropped if it has not started, stopped within one model window if
     *     it has; the promise rejects with signal.reason. confidence: true: also compute
     *     result.confidence before the result comes (costs seconds at 12 MP); 'after':
     *     result.laterConfidence, computed once the result is out (its own request to the
     *     worker). resolution: RESOLUTIONS (an unknown one rejects with InputError).
     *     overlay: false: no result.overlay (null), not made at all (46 MB at 12 MP).
     *     onProgress: after each model window.
     */
    async segment(file, { signal, confidence = false, resolution, overlay = true, onProgress: onWindow } = {}) {
      signal?.throwIfAborted();
      if (resolution !== undefined && !RESOLUTIONS.includes(resolution)) {
        throw new InputError(`Unknown resolution "${resolution}"; one of: ${RESOLUTIONS.join(', ')}.`);
      }
      const started = performance.now();
      const progress = onWindow && (({ stage, done, total }) => onWindow({ stage, done, total }));
      const fields = { file, confidence: confidence === true, ...(resolution && { resolution }), ...(overlay === false && { overlay: false }) };
      const photo = requests.request('segment', fields, { onProgress: progress });
      const later = confidence === 'after' ? requests.request('confidence', { photo: photo.id }) : null;
      later?.promise.catch(() => {}); // callers that never look at it see no unhandled rejection
      signal?.addEventListener(
        'abort',
        () => {
          photo.cancel((entry) => entry.reject(signal.reason));
          later?.cancel((entry) => entry.resolve(null));
        },
        { once: true },
      );
      const result = await photo.promise;
      results++;
      const { timings } = result;
      // What the stages do not account for: messages, copies between threads.
      const stages = Object.entries(timings).reduce((sum, [k, ms]) => (k.includes('.') ? sum : sum + ms), 0);
      timings.messaging = Math.max(0, performance.now() - started - stages);
      result.labelsPng = lazyLabelsPng(photo.id);
      result.export = (kind, options) => exportOf(photo.id, kind, options);
      if (later) result.laterConfidence = later.promise;
      return result;
    },
    /** {square, keep, detail}: each {input: [w, h], windows}, what that mode runs for a photo
     *  of width x height (after EXIF orientation); waits for the engine. */
    resolutionPlan: (width, height) => call('plan', { width, height }),
    /** Model files stored in IndexedDB: [{name, size, sha256, stored}]. */
    cachedModels: () => call('cache', { action: 'list' }),
    /** Delete them; the next start downloads the model again. */
    clearCachedModels: () => call('cache', { action: 'clear' }),
    /**
     * The latest result as a file, encoded in the worker. Rejects (InputError) when there is
     * no result yet or the options do not fit.
     * @param {keyof EXPORT_KINDS} kind
     * @param {{threshold?: number, classId?: number, opacity?: number}} [options]
     * @returns {Promise<Blob>}
     */
    export(kind, options = {}) {
      if (kind in EXPORT_KINDS && !results) return Promise.reject(new InputError('There is no result to export: segment a photo first.'));
      return exportOf(undefined, kind, options);
    },
    /**
     * Class shares of several images as one file, written in the worker by Python (the same
     * layout as the batches' class-shares files).
     * @param {'csv'|'json'} format
     * @param {{photo: string, width: number, height: number, classes: {id: number, pixels: number}[]}[]} rows
     * @returns {Promise<Blob>}
     */
    classShares(format, rows) {
      return call('shares', { format, rows }).then(toBlob);
    },
    /**
     * Video: one frame (VideoFrame or ImageBitmap, transferred and closed) -> labels at
     * labelWidth x labelHeight (default: the input size) with the overlay as an ImageBitmap.
     * The frame is scaled to inputWidth x inputHeight on the way in, or to short side
     * inputShort with the other side by the detail mode's size rule (result.input: the size
     * used; sceneseg.resolution.scaled_size: in proportion, multiples of 32). Logits are smoothed
     * across calls: s = alpha * l + (1 - alpha) * s_prev (alpha 1 = off); reset: true starts
     * afresh (a seek); scene cuts are detected in the worker. Resolves with null if a newer
     * frame replaced this one before it started (the latest frame wins).
     * @param {VideoFrame|ImageBitmap} frame
     * @param {{inputWidth?: number, inputHeight?: number, inputShort?: number, alpha?: number, reset?: boolean, labelWidth?: number, labelHeight?: number}} options
     */
    segmentFrame(frame, options) {
      return call('frame', { alpha: 0.6, reset: false, ...options, frame }, [frame]);
    },
    /** Batches: photos one at a time into one zip built in the worker (see web/worker/batch-zip.js). */
    batch: {
      start: () => call('batch-start'),
      /** -> {stem, width, height, classes, timings, thumb: Blob (overlay PNG, <= 320 px)} or {error} (unreadable photo) */
      add: (file, name = file.name) => call('batch-add', { file, name }),
      /** -> Blob of the zip */
      finish: () => call('batch-finish'),
      cancel: () => call('batch-cancel'),
    },
    dispose() {
      worker.terminate();
      requests.stop(new Error('disposed'));
    },
  };
}

/** Post `first` (a promise of a message) before anything else posted to `worker` meanwhile. */
function postFirst(worker, first) {
  const post = worker.postMessage.bind(worker);
  const held = [];
  worker.postMessage = (...args) => held.push(args);
  first.then((message) => {
    delete worker.postMessage; // the prototype's again
    post(message);
    for (const args of held) {
      try {
        post(...args);
      } catch (error) {
        console.error(error); // (posted directly, the caller would have seen it thrown)
      }
    }
  });
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
