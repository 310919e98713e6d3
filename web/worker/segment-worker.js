// The engine's worker: Python (Pyodide) + onnxruntime-web, off the UI thread (a WASM session
// in a worker of its own, model-worker.js, which engine-start.js starts). This file is its entry:
// the messages (lib/engine-protocol.js lists every one), one job at a time in order,
// cancellation, idle time. Start-up is in engine-start.js, the photo jobs in photo-jobs.js,
// video and batches in video-frames.js and batch-zip.js.
//
// Every request gets its one final message from run() below: a job returns its value (or
// throws), and run() posts the reply or the error. Jobs that need the engine wait for it, in
// the queue: a photo picked during start-up waits for ready.
import { createReplier, NOTICES, RequestError, REQUESTS } from '../lib/engine-protocol.js';
import { batchMessage } from './batch-zip.js';
import { startEngine } from './engine-start.js';
import { clearCachedModels, listCachedModels } from './model-cache.js';
import { createPhotoJobs } from './photo-jobs.js';
import { saveSnapshotWhenIdle } from './python-runtime.js';
import { acceptFrame, segmentFrame, sharesFile } from './video-frames.js';

let ready = null; // Promise<{py, browser, runner, ...}>: settles once a photo can be taken
let queue = Promise.resolve(); // jobs run one at a time, in order

/** Add a job to the queue; returns the job's promise (the queue itself never rejects, so a
 * failed job never stops the ones after it). */
function enqueue(job) {
  const run = queue.then(job);
  queue = run.catch(() => {});
  return run;
}
const replies = createReplier(post);
const cancelled = new Set(); // ids of requests whose caller has moved on
const photos = createPhotoJobs({
  queue: () => queue,
  cancelled,
  busy: () => (lastJob = performance.now()),
  progress: (id, fields) => post({ ...fields, type: 'progress', id }),
});

/** The started engine, for a job; a clear error if it never started or failed to. */
async function engine() {
  if (!ready) throw new RequestError('The segmentation engine did not start; reload the page to try again.');
  try {
    return await ready;
  } catch {
    throw new RequestError('The segmentation engine failed to start; reload the page to try again.');
  }
}

// What each request does: queued: it waits its turn in the job queue; job(message, engine,
// received) returns {value, transfer?}, or {later} (a promise of one) when its reply comes
// after the queue has moved on (the confidence map), or null when the request was answered
// already (a frame replaced on arrival); prefix: before a runtime error's text.
const JOBS = {
  segment: { job: (m, e, received) => photos.segment(m, e, received), prefix: 'Segmentation failed: ' },
  confidence: { job: (m, e) => photos.confidence(m, e) },
  plan: { job: (m, e) => photos.plan(m, e) },
  export: { job: (m, e) => photos.exportFile(m, e), prefix: 'Export failed: ' },
  shares: { job: (m, e) => sharesFile(m, e), prefix: 'Export failed: ' },
  cache: { queued: false, job: cacheRequest },
  frame: { job: (m, e) => segmentFrame(m, e) },
  'batch-start': { job: batchMessage },
  'batch-add': { job: batchMessage },
  'batch-finish': { job: batchMessage },
  'batch-cancel': { job: batchMessage },
};
for (const type of Object.keys(REQUESTS)) if (!JOBS[type]) throw new Error(`no job for request ${type}`);

self.onmessage = (event) => {
  const message = event.data;
  const { type, id } = message;
  if (type === 'init') {
    init(message);
  } else if (type === 'cancel') {
    cancelled.add(id);
    photos.cancel(id);
  } else if (type in REQUESTS) {
    replies.opened(id);
    run(message);
  } else if (id !== undefined) {
    replies.opened(id);
    replies.fail(id, new RequestError(`Unknown request ${type}; one of: ${Object.keys(REQUESTS).join(', ')}.`));
  } else if (!(type in NOTICES)) {
    console.error(`engine protocol: unknown message ${type}`);
  }
};

// Requests whose job runs the model (and so warms it, as the warm-up run would).
const RUNS_MODEL = new Set(['segment', 'frame', 'batch-add']);
let modelJobs = 0; // of those, how many are waiting or running

function run(message) {
  const { type, id } = message;
  const { job, queued = true, prefix = '' } = JOBS[type];
  const received = performance.now();
  if (type === 'segment') photos.newerPhoto(id); // the older one's confidence is no longer wanted
  if (type === 'frame') acceptFrame(message, replies); // a newer frame replaces a waiting one
  const work = async () => {
    if (cancelled.has(id)) throw new RequestError('Cancelled.', 'cancelled');
    return job(message, queued ? await engine() : null, received);
  };
  if (queued) lastJob = received; // the snapshot's storing waits for every job
  if (RUNS_MODEL.has(type)) modelJobs++;
  // {later}: not a promise itself, so the queue moves on when the job returns it.
  (queued ? enqueue(work) : work())
    .finally(() => RUNS_MODEL.has(type) && modelJobs--)
    .then((out) => out?.later ?? out)
    .then(
      // null: answered already (a frame replaced by a newer one, on arrival)
      (out) => out && replies.reply(id, out.value, out.transfer),
      (error) => replies.fail(id, error, prefix),
    )
    .finally(() => cancelled.delete(id));
}

function init(message) {
  if (ready) return;
  ready = startEngine(message, post).catch((error) => {
    replies.event('failed', { message: `Could not start: ${error.message}` });
    throw error;
  });
  // Once ready, store Python's start-up snapshot for the next visit (python-snapshot.js). It
  // keeps this thread busy for a moment (copying and hashing ~50 MB, ~0.1–0.2 s), so it waits
  // until no photo has been asked for in a second: a photo picked right after ready never
  // waits for it, and a visitor who leaves soon after still gets a fast next visit.
  ready.then(
    (started) => {
      // The warm-up run (engine-start.js) unless a job that runs the model waits: a waiting
      // photo warms it. Other jobs (the page's resolution 'plan', a cache listing) do not.
      if (modelJobs === 0) queue = queue.then(() => started.warmUp(() => modelJobs > 0)).catch(() => {});
      else started.skipWarmUp();
      lastJob = Math.max(lastJob, performance.now()); // idle counts from ready
      return whenIdle(saveSnapshotWhenIdle);
    },
    () => {},
  );
}

let lastJob = 0; // when the latest job was asked for
const IDLE_MS = 1000;

/** Run `task` once the job queue is empty and no job has been asked for in IDLE_MS. */
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

async function cacheRequest({ action }) {
  if (action === 'clear') await clearCachedModels();
  return { value: await listCachedModels() };
}
