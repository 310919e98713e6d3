// SceneSeg's public API: one call to create, one to segment. Everything runs in a worker.
//
//   import { createSegmenter } from './lib/sceneseg.js';
//   const segmenter = createSegmenter({ onProgress: (p) => console.log(p.message) });
//   const result = await segmenter.segment(file);   // Blob or File of an encoded image;
//                                                   // {signal} (AbortSignal) as 2nd argument
//   result.labels            // Uint8Array, width * height class ids, row-major
//   result.classes           // [{id, name, color, pixels, fraction}], largest first
//   result.overlay           // ImageBitmap: each pixel in its class colour (opaque)
//   result.timings           // ms per stage: queued (waiting for the engine or earlier
//                            // photos), decode, preprocess, model, postprocess, transfer,
//                            // overlay, messaging: together, the time from segment() to result
//   await result.labelsPng   // Blob: the label map as PNG (pixel value = class id)
//   await segmenter.ready    // {model, backend, threads, startup, cache, ...}: resolves after the
//                            // warm-up run, so a photo segmented from then on runs at full speed;
//                            // segment() may be called earlier: the photo waits for the engine
//   await segmenter.cachedModels()   // [{name, size, sha256, stored}] in IndexedDB
//   await segmenter.clearCachedModels()

/** Raised for input the user can fix (wrong file type, damaged, too large, empty). */
export class InputError extends Error {
  name = 'InputError';
}

/**
 * @param {{model?: string, precision?: 'q8'|'fp16'|'fp32', onProgress?: (p: {stage: string, message: string, loaded?: number, total?: number}) => void}} [config]
 */
export function createSegmenter(config = {}) {
  const worker = new Worker(new URL('../worker/segment-worker.js', import.meta.url), { type: 'module' });
  const onProgress = config.onProgress ?? (() => {});
  const jobs = new Map(); // id -> {resolve, reject, png, started}
  const calls = new Map(); // id -> {resolve, reject} for cache requests
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
      case 'result': {
        if (!job) break;
        const { timings } = message.result;
        // What the stages do not account for: messages, copies between threads.
        const worker = Object.values(timings).reduce((a, b) => a + b, 0);
        timings.messaging = Math.max(0, performance.now() - job.started - worker);
        job.resolve({ ...message.result, labelsPng: job.png.promise });
        break;
      }
      case 'cache': {
        const call = calls.get(message.id);
        calls.delete(message.id);
        if (message.error) call?.reject(new Error(message.error));
        else call?.resolve(message.entries);
        break;
      }
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
  // Served by the service worker: the app's files are local and were verified when cached.
  const controlled = Boolean(globalThis.navigator?.serviceWorker?.controller);
  worker.postMessage({ type: 'init', model: config.model, precision: config.precision, controlled });

  function cacheCall(action) {
    const id = nextId++;
    worker.postMessage({ type: 'cache', id, action });
    return new Promise((resolve, reject) => calls.set(id, { resolve, reject }));
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
      const started = performance.now();
      const result = new Promise((resolve, reject) => jobs.set(id, { resolve, reject, png, started }));
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
    /** Model files stored in IndexedDB: [{name, size, sha256, stored}]. */
    cachedModels: () => cacheCall('list'),
    /** Delete them; the next start downloads the model again. */
    clearCachedModels: () => cacheCall('clear'),
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
