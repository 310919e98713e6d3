// The photo jobs, run from segment-worker.js's job queue (which posts each request's one reply
// from what these return): a photo segmented and its overlay drawn; its confidence map, its own
// request, computed afterwards a slice at a time between other jobs; the files of the latest
// result, encoded here (Python) when they are asked for, never before.
import { RequestError } from '../lib/engine-protocol.js';
import { overlayBitmap } from './overlay-image.js';

// A confidence slice lasts about this long: a newer photo, a video frame or an export waits at
// most one slice.
const CONFIDENCE_SLICE_MS = 40;

const CANCELLED = () => new RequestError('Cancelled.', 'cancelled');

/**
 * @param {object} worker  what the jobs share with the entry (segment-worker.js):
 *   queue(): the job queue's tail now (the confidence slices wait until it is empty);
 *   cancelled: ids of requests whose caller has moved on; busy(): a job ran now (the snapshot's
 *   storing waits for idle); progress(id, fields): a request's progress message to the page.
 */
export function createPhotoJobs({ queue, cancelled, busy, progress }) {
  let latest = null; // id of the segment request whose result Python holds (exports use it)
  let newest = null; // id of the newest segment request received
  let confidenceFor = null; // id of the confidence request being computed

  async function segment({ id, file, confidence = false, resolution, overlay = true }, { browser, runner }, received) {
    // Time spent waiting for the engine or for earlier photos: part of what the visitor waited.
    const queued = performance.now() - received;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const options = { confidence: confidence === true, ...(resolution !== undefined && { resolution }) };
      // Python calls this after each model window (detail runs many): the page hears of it, and
      // a truthy return stops the run there (the cancel came while the model ran: the worker's
      // message handler runs between windows, as each window awaits onnxruntime).
      const onWindow = (done, total) => {
        progress(id, { stage: 'window', done, total });
        return cancelled.has(id);
      };
      const proxy = await browser.segment(bytes, JSON.stringify(options), onWindow);
      const result = proxy.toJs({ dict_converter: Object.fromEntries });
      proxy.destroy();
      // An unreadable file (or a bad option): Python keeps the previous result.
      if (result.error) throw new RequestError(result.error, 'input');
      if (result.cancelled) {
        latest = null; // Python dropped the previous result before the model ran
        throw CANCELLED();
      }
      latest = id;
      if (cancelled.has(id)) throw CANCELLED(); // no one is waiting: skip the overlay
      const start = performance.now();
      result.overlay = overlay === false ? null : await overlayBitmap(result.labels, result.width, result.height, result.classes);
      if (result.overlay) result.timings.overlay = performance.now() - start;
      // The backend that produced this result (WebGPU may have handed over to WASM mid-job);
      // 'model.*' entries are parts of the model stage (not added to the total).
      result.backend = runner.name;
      for (const [name, ms] of Object.entries(runner.timings)) result.timings[`model.${name}`] = ms;
      result.timings = { queued, ...result.timings };
      const transfer = [result.labels.buffer, ...(result.overlay ? [result.overlay] : [])];
      if (result.confidence) transfer.push(result.confidence.buffer);
      return { value: result, transfer };
    } catch (error) {
      if (!(error instanceof RequestError)) latest = null; // Python may hold no result now
      throw error;
    }
  }

  /** Request {id, photo}: photo's confidence map, once its result is out (this job is queued
   *  behind it). Answered later: the slices run between other jobs. */
  function confidence({ id, photo }, { browser }) {
    if (latest !== photo || newest !== photo || cancelled.has(photo)) return { value: null };
    confidenceFor = id;
    return { later: computeConfidence(id, browser) };
  }

  // The latest photo's confidence map, computed after its labels are shown (seconds for 12 MP
  // in Pyodide), a slice at a time and only while no other job waits. A newer photo drops it.
  async function computeConfidence(id, browser) {
    for (;;) {
      await nextTask(); // let waiting messages in
      const pending = queue();
      await pending;
      if (pending !== queue()) continue; // other jobs first
      if (cancelled.has(id)) throw CANCELLED();
      if (confidenceFor !== id) return { value: null }; // a newer photo came
      busy(); // the snapshot's storing waits for this too
      let out;
      try {
        const proxy = browser.confidence_step(CONFIDENCE_SLICE_MS);
        out = proxy?.toJs({ dict_converter: Object.fromEntries });
        proxy?.destroy();
      } catch (error) {
        confidenceFor = null;
        throw error;
      }
      if (!out) continue;
      confidenceFor = null;
      if (out.error) throw new RequestError(out.error, 'runtime');
      return { value: { confidence: out.confidence, classes: out.classes, ms: out.ms }, transfer: [out.confidence.buffer] };
    }
  }

  /** Request {width, height}: what each resolution mode runs for a photo of that size. */
  function plan({ width, height }, { browser }) {
    if (![width, height].every((side) => Number.isInteger(side) && side > 0)) {
      throw new RequestError('plan needs a photo size: positive whole numbers width and height.', 'input');
    }
    const value = {};
    for (const mode of ['square', 'keep', 'detail']) {
      const proxy = browser.resolution_plan(Number(width), Number(height), mode);
      value[mode] = proxy.toJs({ dict_converter: Object.fromEntries });
      proxy.destroy();
      if (value[mode].error) throw new RequestError(value[mode].error, 'input');
    }
    return { value };
  }

  /** Request {kind, options, photo?}: a file of the latest result (of photo's, if given). */
  function exportFile({ kind, options, photo }, { browser }) {
    if (photo !== undefined && photo !== latest) {
      throw new RequestError('This result is no longer held by the engine: a newer photo replaced it. Ask for its files before segmenting another photo.', 'stale');
    }
    const proxy = browser.export_file(String(kind), JSON.stringify(options ?? {}));
    const out = proxy.toJs({ dict_converter: Object.fromEntries });
    proxy.destroy();
    if (out.error) throw new RequestError(out.error, 'input');
    return { value: { data: out.data, mime: out.mime, ms: out.ms }, transfer: [out.data.buffer] };
  }

  return {
    segment,
    confidence,
    plan,
    exportFile,
    /** Segment request `id` came: an older photo's confidence is no longer wanted. */
    newerPhoto(id) {
      newest = id;
      confidenceFor = null;
    },
    /** The caller of request `id` has moved on (`cancelled` has it already). */
    cancel(id) {
      if (id === confidenceFor) confidenceFor = null;
    },
  };
}

// A new task (not a microtask), so that messages that came meanwhile run first; a
// MessageChannel rather than setTimeout, whose nested calls are clamped to 4 ms each.
const tick = new MessageChannel();
const ticks = [];
tick.port1.onmessage = () => ticks.shift()?.();
const nextTask = () => new Promise((resolve) => {
  ticks.push(resolve);
  tick.port2.postMessage(null);
});
