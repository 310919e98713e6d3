// The engine protocol: every message between the page (lib/sceneseg.js) and the engine's
// worker (worker/segment-worker.js), in one place that both import. The tables below are the
// reference (docs/architecture.md shows them as one table); the code on both sides uses the
// helpers at the end, so a message not listed here is refused by the worker.
//
// The rules:
//   - A request {type, id, ...fields} gets exactly ONE final message: {type: 'reply', id, value}
//     or {type: 'error', id, message, kind}. A cancelled request gets its final message too (an
//     error of kind 'cancelled'), so the count is exact for every request. Progress may come
//     before the final message ({type: 'progress', id, ...}): 'segment' sends one per model
//     window ({stage: 'window', done, total}); no other request sends any.
//   - A notice ('init', 'cancel') gets no reply.
//   - Events belong to no request: start-up progress, ready, the switch from WebGPU to WASM,
//     the warm-up run done, a failed start.
//   - The page keeps ONE map of pending requests (createRequester below).
//
// No RPC library (Comlink was the candidate). What Comlink would replace here is the id and the
// pending map, about 40 lines (createRequester). What it would not replace is most of the
// protocol: the worker's one job queue, cancelling a request (Comlink has no abort), events
// that belong to no call, the newest video frame replacing a waiting one, transfer lists (its
// transfer() wrappers), and one final reply per request that tests can count. Its wire format
// (GET/APPLY with property paths) would hide these names from the tests and benchmarks that
// read or rewrite messages (bench/python_startup.py rewrites 'init'), and it would add a
// vendored file to the build, the precache and the list of what ships. Not simpler: not used.

/** Requests, page -> worker: their fields and the value of their one reply. */
export const REQUESTS = {
  segment: {
    fields: "{file: Blob, confidence: boolean, resolution?: 'square' (default) | 'keep' | 'detail', overlay?: false (none made)}",
    reply: "the result: {width, height, labels (Uint8Array), overlay (ImageBitmap, or null if asked for none), classes, backend, timings, resolution: {mode, input: [w, h], windows}, confidence? (Uint8Array)}; labels, overlay and confidence transferred. Progress before it: {stage: 'window', done, total} after each model window; a cancel stops it within one window",
  },
  plan: {
    fields: '{width, height}',
    reply: "{square, keep, detail}: each {input: [w, h], windows} for a photo of that size (sceneseg.browser.resolution_plan), for the cost shown near the setting",
  },
  confidence: {
    fields: '{photo: id of a segment request}',
    reply: "{confidence (Uint8Array, transferred), classes (with mean_confidence), ms}, computed a slice at a time between other jobs once photo's result is out; null if a newer photo came first, or photo failed or was cancelled",
  },
  export: {
    fields: '{kind, options: {threshold?, classId?, opacity?, name?, confidence?}, photo?: id of a segment request}',
    reply: "{data (Uint8Array, transferred), mime, ms}: the latest result as a file (sceneseg.exports); with photo: that photo's result, an error of kind 'stale' if it is no longer the latest",
  },
  shares: {
    fields: "{format: 'csv'|'json', rows: [{photo, width, height, classes: [{id, pixels}]}]}",
    reply: '{data (Uint8Array, transferred), mime}: class shares as a file (sceneseg.browser.shares_file)',
  },
  cache: {
    fields: "{action: 'list'|'clear'}",
    reply: '[{name, size, sha256, stored}]: the model files in IndexedDB (after clearing, if asked)',
  },
  frame: {
    fields: '{frame (VideoFrame|ImageBitmap, transferred), inputWidth, inputHeight | inputShort, alpha, reset, labelWidth?, labelHeight?}',
    reply: "{width, height, input: [w, h], labels, classes: [{id, name, color, fraction}], cut, flicker, timings, overlay (ImageBitmap)}, labels and overlay transferred; null if a newer frame replaced it before it started. inputShort: the input's short side, the other in proportion by detail's size rule (sceneseg.resolution.scaled_size)",
  },
  'batch-start': { fields: '{}', reply: "'opfs' | 'memfs': where the zip is written" },
  'batch-add': {
    fields: '{file: Blob, name}',
    reply: '{stem, width, height, classes, timings, thumb: Blob (overlay PNG, <= 320 px)} or {error} (an unreadable photo)',
  },
  'batch-finish': { fields: '{}', reply: 'the zip: a File (OPFS, on disk) or a Blob' },
  'batch-cancel': { fields: '{}', reply: 'true' },
};

/** Notices, page -> worker: no reply. */
export const NOTICES = {
  init: {
    fields: '{model?, precision?, backend?, webgpuFail?, controlled?, snapshot?, buildInfo?, pageOrigin?}',
    note: "starts the engine (once); buildInfo: build-info.json's text, read once by the page (else the worker fetches it); pageOrigin: the page's performance.timeOrigin (start-up figures on the page's clock); answered by the events 'ready' or 'failed'",
  },
  cancel: {
    fields: '{id}',
    note: "the caller no longer wants request id: dropped if it has not started, its result discarded if it has; the request's final message is then an error of kind 'cancelled'",
  },
};

/** Events, worker -> page: they belong to no request. */
export const EVENTS = {
  progress: { fields: '{stage, message, loaded?, total?}', note: 'start-up steps and byte counts' },
  ready: { fields: '{info}', note: 'a photo can be taken; info: model, precision, file, backend, choice, threads, isolated, version, cache, startup, python, versions' },
  backend: { fields: '{message, choice}', note: 'WebGPU failed and WASM took over (choice: backend, precision, file, reason)' },
  warmed: { fields: '{ms, runs}', note: 'the warm-up after ready is done (runs: how many it made before a photo came)' },
  failed: { fields: '{message}', note: 'the engine could not start; every request after this gets an error' },
};

/** Final messages, worker -> page: one per request. */
export const FINAL = {
  reply: '{id, value}',
  error: "{id, message, kind: 'input' (the caller can fix it) | 'stale' (that result is no longer held) | 'cancelled' | 'runtime'}",
};

/** Raised for input the user can fix (wrong file type, damaged, too large, empty). */
export class InputError extends Error {
  name = 'InputError';
}

/** Raised for a file asked of a result that the worker no longer holds (a newer photo's replaced it). */
export class StaleResultError extends Error {
  name = 'StaleResultError';
}

/** An error of `kind` for a request's final message (the worker throws these). */
export class RequestError extends Error {
  constructor(message, kind = 'runtime') {
    super(message);
    this.kind = kind;
  }
}

/** The error a final {type: 'error'} message stands for, on the page. */
export function errorFromMessage({ message, kind }) {
  if (kind === 'input') return new InputError(message);
  if (kind === 'stale') return new StaleResultError(message);
  const error = new Error(message);
  if (kind === 'cancelled') error.name = 'AbortError';
  return error;
}

/**
 * The page's side: one map of pending requests over `worker`. `onEvent(message)` gets every
 * event (and a request's progress, as {type: 'progress', id, ...}, to its own onProgress).
 * @returns {{request, notice, stop, pending: Map}}
 */
export function createRequester(worker, onEvent) {
  const pending = new Map(); // id -> {resolve, reject, onProgress?}
  let nextId = 1;

  worker.addEventListener('message', ({ data: message }) => {
    const { type, id } = message;
    if (type === 'reply' || type === 'error') {
      const entry = pending.get(id);
      if (!entry) return; // cancelled by the page already: it settled then
      pending.delete(id);
      if (type === 'reply') entry.resolve(message.value);
      else entry.reject(errorFromMessage(message));
    } else if (type === 'progress' && id !== undefined) {
      pending.get(id)?.onProgress?.(message);
    } else if (type in EVENTS) {
      onEvent(message);
    }
  });

  return {
    pending,
    /**
     * Send request `type`; returns {id, promise, cancel(settle)}. cancel() settles the promise
     * now (settle(entry): entry.resolve(...) or entry.reject(...)) and tells the worker.
     */
    request(type, fields = {}, { transfer = [], onProgress } = {}) {
      if (!(type in REQUESTS)) throw new TypeError(`not a request of the engine protocol: ${type}`);
      const id = nextId++;
      const promise = new Promise((resolve, reject) => pending.set(id, { resolve, reject, onProgress }));
      worker.postMessage({ ...fields, type, id }, transfer);
      return {
        id,
        promise,
        cancel(settle) {
          const entry = pending.get(id);
          if (!entry) return;
          pending.delete(id);
          settle(entry);
          worker.postMessage({ type: 'cancel', id });
        },
      };
    },
    /** Send notice `type` (no reply). */
    notice(type, fields = {}) {
      if (!(type in NOTICES)) throw new TypeError(`not a notice of the engine protocol: ${type}`);
      worker.postMessage({ ...fields, type });
    },
    /** Reject every pending request with `error` (the worker stopped or was disposed). */
    stop(error) {
      for (const entry of pending.values()) entry.reject(error);
      pending.clear();
    },
  };
}

/**
 * The worker's side: the one final message per request. `post(message, transfer)` posts to the
 * page. A second final message for an id is a bug: it is dropped and logged.
 */
export function createReplier(post) {
  const open = new Set(); // ids that have had no final message yet
  const close = (id) => {
    if (open.delete(id)) return true;
    console.error(`engine protocol: a second final message for request ${id} was dropped`);
    return false;
  };
  return {
    /** A request came in (call before anything can answer it). */
    opened(id) {
      open.add(id);
    },
    reply(id, value, transfer = []) {
      if (close(id)) post({ type: 'reply', id, value }, transfer);
    },
    /** `error`: a RequestError (its kind) or anything thrown (kind 'runtime'; a Python
     *  traceback's last line is the message); `prefix` goes before a runtime error's message. */
    fail(id, error, prefix = '') {
      if (!close(id)) return;
      if (error instanceof RequestError) {
        post({ type: 'error', id, message: error.message, kind: error.kind });
      } else {
        const text = String(error?.message ?? error).trim().split('\n').pop();
        post({ type: 'error', id, message: `${prefix}${text}`, kind: 'runtime' });
      }
    },
    /** An event (EVENTS). */
    event(type, fields = {}) {
      post({ ...fields, type });
    },
  };
}
