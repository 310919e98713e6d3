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
 * @param {{precision?: 'q8'|'fp16'|'fp32', backend?: 'webgpu'|'wasm', webgpuFail?: 'adapter'|'session'|'run'|'lost', onProgress?: (p: {stage: string, message: string, loaded?: number, total?: number}) => void}} [config]
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
  // backend: 'webgpu' | 'wasm' | undefined (automatic); webgpuFail: tests of the fallback only.
  worker.postMessage({ type: 'init', precision: config.precision, backend: config.backend, webgpuFail: config.webgpuFail });

  return {
    /** Resolves with {model, precision, backend, choice: {backend, precision, file, reason}, versions}
     *  once the model is loaded. A later switch from WebGPU to WASM comes as a progress
     *  message with stage 'backend' and the new choice. */
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
