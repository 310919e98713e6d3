// The worker: Python (Pyodide) + onnxruntime-web, off the UI thread. This file is its entry:
// the messages, one job at a time in order, cancellation, idle time. Start-up is in
// engine-start.js, the photo jobs in photo-jobs.js, video and batches in video-frames.js and
// batch-zip.js (their own messages, 'segment-frame' and 'batch-*', are listed there).
//
// Messages in:   {type: 'init', model?, precision?, backend?, webgpuFail?, controlled?, snapshot?}
//                                                       model: an id of build-info's models;
//                                                       backend, webgpuFail: backend-choice.js;
//                                                       controlled: the page is served by the
//                                                       service worker (files local, verified)
//                {type: 'segment', id, file: Blob, confidence?: boolean|'after'}   accepted at any time: jobs
//                                                       that arrive before the engine is ready wait
//                                                       for it. confidence true: in the result;
//                                                       'after': computed after the result is
//                                                       posted, between other jobs
//                {type: 'export', id, kind, options}    encode the latest result (sceneseg.exports)
//                {type: 'cancel', id}                   the caller no longer wants job id
//                {type: 'cache', id, action: 'list'|'clear'}   the model cache (IndexedDB)
// Messages out:  {type: 'progress', stage, message, loaded?, total?}
//                                                       stage 'backend' (+ choice): WebGPU
//                                                       failed and WASM took over
//                {type: 'ready', info}                  a photo can be taken; the warm-up run
//                                                       follows unless a photo already waits
//                {type: 'progress', stage: 'warmed', ms}   the warm-up run is done: a photo
//                                                       picked now gets steady-state speed
//                {type: 'result', id, result}           result.labels and result.overlay
//                                                       (an ImageBitmap) are transferred
//                {type: 'labels-png', id, png}          png is transferred
//                {type: 'confidence', id, confidence?, classes?, ms?, dropped?, error?}
//                                                       for confidence 'after': the map (transferred)
//                                                       and the classes with their mean confidence;
//                                                       dropped: a newer photo came first
//                {type: 'export', id, data, mime, ms}   data (Uint8Array) is transferred
//                {type: 'cache', id, entries?, error?}
//                {type: 'error', id?, message, kind}    kind: 'input' (bad file) | 'runtime'
import { batchMessage } from './batch-zip.js';
import { startEngine } from './engine-start.js';
import { clearCachedModels, listCachedModels } from './model-cache.js';
import { createPhotoJobs } from './photo-jobs.js';
import { saveSnapshotWhenIdle } from './python-runtime.js';
import { acceptFrame, segmentFrame } from './video-frames.js';

let ready = null; // Promise<{py, browser, runner, ...}>: settles once a photo can be taken
let queue = Promise.resolve(); // jobs run one at a time, in order
let waiting = 0; // jobs queued and not finished (photos, exports, frames, batch calls)

/** Add a job to the queue, counted in `waiting` until it ends; returns the job's promise (the
 * queue itself never rejects, so a failed job never stops the ones after it). */
function enqueue(job) {
  waiting++;
  const run = queue.then(job).finally(() => waiting--);
  queue = run.catch(() => {});
  return run;
}
const cancelled = new Set(); // ids of jobs whose caller has moved on
const photos = createPhotoJobs({
  engine: () => ready,
  queue: () => queue,
  cancelled,
  busy: () => (lastJob = performance.now()),
  post,
});

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'init') {
    if (ready) return;
    ready = startEngine(message, post).catch((error) => {
      post({ type: 'error', message: `Could not start: ${error.message}`, kind: 'runtime' });
      throw error;
    });
    // Once ready, store Python's start-up snapshot for the next visit (python-snapshot.js). It
    // keeps this thread busy for a moment (copying and hashing ~50 MB, ~0.1–0.2 s), so it waits
    // until no photo has been asked for in a second: a photo picked right after ready never
    // waits for it, and a visitor who leaves soon after still gets a fast next visit.
    ready.then(
      (engine) => {
        // The warm-up run (engine-start.js) only if no job waits: a waiting photo warms it.
        if (waiting === 0) queue = queue.then(engine.warmUp).catch(() => {});
        else engine.skipWarmUp();
        lastJob = Math.max(lastJob, performance.now()); // idle counts from ready
        return whenIdle(saveSnapshotWhenIdle);
      },
      () => {},
    );
  } else if (message.type === 'segment') {
    photos.newerPhoto(); // the older one's confidence is no longer wanted
    const received = (lastJob = performance.now());
    enqueue(() => photos.segment(message, received))
      .catch(() => {})
      .finally(() => cancelled.delete(message.id));
  } else if (message.type === 'export') {
    // In the queue: an export asked for right after a segment waits for its result.
    enqueue(() => photos.exportFile(message)).catch(() => {});
  } else if (message.type === 'cancel') {
    cancelled.add(message.id);
    photos.cancel(message.id);
  } else if (message.type === 'cache') {
    cacheRequest(message);
  } else if (message.type === 'segment-frame' || message.type.startsWith('batch-')) {
    lastJob = performance.now(); // the snapshot's storing waits for video and batches too
    extraJob(message);
  }
};

// Video frames and batches (web/worker/video-frames.js, batch-zip.js) share the job queue
// with photos. A frame that arrives while an older one waits replaces it.
function extraJob(message) {
  if (message.type === 'segment-frame') acceptFrame(message, post);
  enqueue(async () => {
    if (!ready) throw new Error('The segmentation engine did not start; reload the page to try again.');
    const python = await ready;
    if (message.type === 'segment-frame') await segmentFrame(message.id, python, post);
    else await batchMessage(message, python, post);
  }).catch((error) => {
    const last = String(error.message).trim().split('\n').pop();
    post({ type: 'error', id: message.id, message: last, kind: 'runtime' });
  });
}

let lastJob = 0; // when the latest photo was asked for
const IDLE_MS = 1000;

/** Run `task` once the job queue is empty and no photo has been asked for in IDLE_MS. */
async function whenIdle(task) {
  for (;;) {
    const since = performance.now() - lastJob;
    if (since >= IDLE_MS) {
      const pending = queue;
      await pending;
      if (pending === queue && performance.now() - lastJob >= IDLE_MS) return task();
    } else {
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS - since));
    }
  }
}

function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

async function cacheRequest({ id, action }) {
  try {
    if (action === 'clear') await clearCachedModels();
    post({ type: 'cache', id, entries: await listCachedModels() });
  } catch (error) {
    post({ type: 'cache', id, error: error.message });
  }
}
