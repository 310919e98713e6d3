// SceneSeg's public API: one call to create, one to segment. Everything runs in a worker.
//
//   import { createSegmenter } from './lib/sceneseg.js';
//   const segmenter = createSegmenter({ onProgress: (p) => console.log(p.message) });
//   const result = await segmenter.segment(file);   // Blob or File of an encoded image;
//                                                   // {signal} (AbortSignal) as 2nd argument
//   result.labels            // Uint8Array, width * height class ids, row-major
//   result.classes           // [{id, name, color, pixels, fraction}], largest first
//   result.overlay           // ImageBitmap: each pixel in its class colour (opaque)
//   result.timings           // ms per stage: decode, preprocess, model, postprocess, ...
//   await result.labelsPng   // Blob: the label map as PNG (pixel value = class id)

/** Raised for input the user can fix (wrong file type, damaged, too large, empty). */
export class InputError extends Error {
  name = 'InputError';
}

/**
 * @param {{precision?: 'q8'|'fp16'|'fp32', onProgress?: (p: {stage: string, message: string, loaded?: number, total?: number}) => void}} [config]
 */
export function createSegmenter(config = {}) {
  const worker = new Worker(new URL('../worker/segment-worker.js', import.meta.url), { type: 'module' });
  const onProgress = config.onProgress ?? (() => {});
  const jobs = new Map(); // id -> {resolve, reject, png}
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
        job?.resolve({ ...message.result, labelsPng: job.png.promise });
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
          job.png.reject(error);
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
      job.png.reject(error);
    }
    jobs.clear();
  };
  worker.postMessage({ type: 'init', precision: config.precision });

  /** A request answered by one 'reply' (or 'error') message. */
  function call(message, transfer = []) {
    const id = nextId++;
    const noPng = { resolve() {}, reject() {} };
    const result = new Promise((resolve, reject) => jobs.set(id, { resolve, reject, png: noPng }));
    worker.postMessage({ ...message, id }, transfer);
    return result;
  }

  return {
    /** Resolves with {model, precision, backend, versions} once the model is loaded. */
    ready,
    /**
     * @param {Blob} file
     * @param {{signal?: AbortSignal}} [options]  abort: the job is dropped if it has not
     *     started, its result discarded if it has; the promise rejects with signal.reason
     */
    async segment(file, { signal } = {}) {
      signal?.throwIfAborted();
      const id = nextId++;
      const png = deferred();
      png.promise.catch(() => {}); // a failed job rejects both; the caller sees the first
      const result = new Promise((resolve, reject) => jobs.set(id, { resolve, reject, png }));
      worker.postMessage({ type: 'segment', id, file });
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
        job.png.reject(new Error('disposed'));
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
