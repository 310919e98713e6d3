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
//   result.timings           // ms per stage: decode, preprocess, model, postprocess, ...
//   await result.labelsPng   // Blob: the label map as PNG (pixel value = class id)
//   result.confidence        // with segment(file, {confidence: true}): Uint8Array,
//                            // round(p * 255) per pixel, p = softmax probability of its class
//
//   await segmenter.export('labels-png', {threshold: 0.5})  // Blob, of the latest result;
//   // kinds: EXPORT_KINDS below. threshold (0..1): pixels whose confidence is below it are
//   // unlabelled: UNLABELLED (255) in the label map, transparent in the overlay, in no mask.
//   exportName('IMG_1234.jpg', 'mask-png', 'chest of drawers')  // 'IMG_1234-mask-chest-of-drawers.png'
//   (letters without accents, digits, '_', '.', '-' only; 'photo' if nothing is left)

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
 * @param {{precision?: 'q8'|'fp16'|'fp32', onProgress?: (p: {stage: string, message: string, loaded?: number, total?: number}) => void}} [config]
 */
export function createSegmenter(config = {}) {
  const worker = new Worker(new URL('../worker/segment-worker.js', import.meta.url), { type: 'module' });
  const onProgress = config.onProgress ?? (() => {});
  const jobs = new Map(); // id -> {resolve, reject, png?}
  let results = 0; // results received: export() needs one
  let nextId = 1;
  let readyResolve, readyReject;
  const ready = new Promise((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });

  worker.onmessage = ({ data: message }) => {
    const job = jobs.get(message.id);
    switch (message.type) {
      case 'progress':
        onProgress(message);
        break;
      case 'ready':
        readyResolve(message.info);
        break;
      case 'result':
        results++;
        job?.resolve({ ...message.result, labelsPng: job.png.promise });
        break;
      case 'export':
        job?.resolve(new Blob([message.data], { type: message.mime }));
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
  };
  worker.postMessage({ type: 'init', precision: config.precision });

  return {
    /** Resolves with {model, precision, backend, versions} once the model is loaded. */
    ready,
    /**
     * @param {Blob} file
     * @param {{signal?: AbortSignal, confidence?: boolean}} [options]  abort: the job is
     *     dropped if it has not started, its result discarded if it has; the promise rejects
     *     with signal.reason. confidence: also compute result.confidence (costs time).
     */
    async segment(file, { signal, confidence = false } = {}) {
      signal?.throwIfAborted();
      const id = nextId++;
      const png = deferred();
      png.promise.catch(() => {}); // a failed job rejects both; the caller sees the first
      const result = new Promise((resolve, reject) => jobs.set(id, { resolve, reject, png }));
      worker.postMessage({ type: 'segment', id, file, confidence: Boolean(confidence) });
      signal?.addEventListener(
        'abort',
        () => {
          const job = jobs.get(id);
          if (!job) return;
          jobs.delete(id);
          job.reject(signal.reason);
          job.png.reject(signal.reason);
          worker.postMessage({ type: 'cancel', id });
        },
        { once: true },
      );
      return result;
    },
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
    dispose() {
      worker.terminate();
      for (const job of jobs.values()) {
        job.reject(new Error('disposed'));
        job.png?.reject(new Error('disposed'));
      }
      jobs.clear();
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
