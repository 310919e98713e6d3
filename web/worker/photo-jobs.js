// The photo jobs, run from segment-worker.js's job queue: a photo segmented (its overlay drawn,
// its label PNG encoded), its confidence map computed afterwards a slice at a time between other
// jobs, and the exports of the latest result (encoded here, in Python).
import { overlayBitmap } from './overlay-image.js';

// A confidence slice lasts about this long: a newer photo, a video frame or an export waits at
// most one slice.
const CONFIDENCE_SLICE_MS = 40;

/**
 * @param {object} worker  what the jobs share with the entry (segment-worker.js):
 *   engine(): the start-up's Promise<{py, browser, runner}>, or null if 'init' never came;
 *   queue(): the job queue's tail now (the confidence slices wait until it is empty);
 *   cancelled: ids of jobs whose caller has moved on; busy(): a job ran now (the snapshot's
 *   storing waits for idle); post(message, transfer): to the page.
 */
export function createPhotoJobs({ engine, queue, cancelled, busy, post }) {
  let confidenceFor = null; // id of the photo whose confidence is being computed

  async function segment({ id, file, confidence = false }, received) {
    const ready = engine();
    if (!ready) {
      post({ type: 'error', id, message: 'The segmentation engine did not start; reload the page to try again.', kind: 'runtime' });
      return;
    }
    let browser, runner;
    try {
      ({ browser, runner } = await ready); // a photo picked during start-up waits here
    } catch {
      post({ type: 'error', id, message: 'The segmentation engine failed to start.', kind: 'runtime' });
      return;
    }
    if (cancelled.has(id)) return; // replaced by a newer photo before it started
    // Time spent waiting for the engine or for earlier photos: part of what the visitor waited.
    const queued = performance.now() - received;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const proxy = await browser.segment(bytes, JSON.stringify({ confidence: confidence === true }));
      const result = proxy.toJs({ dict_converter: Object.fromEntries });
      proxy.destroy();
      if (result.error) {
        post({ type: 'error', id, message: result.error, kind: 'input' });
        return;
      }
      if (cancelled.has(id)) return; // no one is waiting: skip the overlay and the PNG
      const start = performance.now();
      result.overlay = await overlayBitmap(result.labels, result.width, result.height, result.classes);
      result.timings.overlay = performance.now() - start;
      // The backend that produced this result (WebGPU may have handed over to WASM mid-job);
      // 'model.*' entries are parts of the model stage (not added to the total).
      result.backend = runner.name;
      for (const [name, ms] of Object.entries(runner.timings)) result.timings[`model.${name}`] = ms;
      result.timings = { queued, ...result.timings };
      const transfer = [result.labels.buffer, result.overlay];
      if (result.confidence) transfer.push(result.confidence.buffer);
      post({ type: 'result', id, result }, transfer);
      const pngProxy = browser.labels_png();
      const png = pngProxy.toJs(); // a copy in JS memory; the Python bytes can go
      pngProxy.destroy();
      post({ type: 'labels-png', id, png }, [png.buffer]);
      if (confidence === 'after') computeConfidence(id, browser); // not awaited: the queue moves on
    } catch (error) {
      // Python exceptions carry a whole traceback; its last line is the message.
      const last = String(error.message).trim().split('\n').pop();
      post({ type: 'error', id, message: `Segmentation failed: ${last}`, kind: 'runtime' });
    }
  }

  // The latest photo's confidence map, computed after its labels are shown (seconds for 12 MP
  // in Pyodide), a slice at a time and only while no other job waits. A newer photo drops it.
  async function computeConfidence(id, browser) {
    confidenceFor = id;
    const dropped = () => confidenceFor !== id || cancelled.has(id);
    for (;;) {
      await nextTask(); // let waiting messages in
      const pending = queue();
      await pending;
      if (pending !== queue()) continue; // other jobs first
      if (dropped()) {
        post({ type: 'confidence', id, dropped: true });
        return;
      }
      busy(); // the snapshot's storing waits for this too
      let out;
      try {
        const proxy = browser.confidence_step(CONFIDENCE_SLICE_MS);
        out = proxy?.toJs({ dict_converter: Object.fromEntries });
        proxy?.destroy();
      } catch (error) {
        out = { error: String(error.message).trim().split('\n').pop() };
      }
      if (!out) continue;
      confidenceFor = null;
      if (out.error) post({ type: 'confidence', id, error: out.error });
      else post({ type: 'confidence', id, confidence: out.confidence, classes: out.classes, ms: out.ms }, [out.confidence.buffer]);
      return;
    }
  }

  // Exports of the latest result, encoded here (Python), never on the page's UI thread.
  async function exportFile({ id, kind, options }) {
    let browser;
    try {
      const ready = engine();
      if (!ready) throw new Error('not started');
      ({ browser } = await ready);
    } catch {
      post({ type: 'error', id, message: 'The segmentation engine is not running; reload the page.', kind: 'runtime' });
      return;
    }
    try {
      const proxy = browser.export_file(String(kind), JSON.stringify(options ?? {}));
      const out = proxy.toJs({ dict_converter: Object.fromEntries });
      proxy.destroy();
      if (out.error) {
        post({ type: 'error', id, message: out.error, kind: 'input' });
        return;
      }
      post({ type: 'export', id, data: out.data, mime: out.mime, ms: out.ms }, [out.data.buffer]);
    } catch (error) {
      const last = String(error.message).trim().split('\n').pop();
      post({ type: 'error', id, message: `Export failed: ${last}`, kind: 'runtime' });
    }
  }

  return {
    segment,
    exportFile,
    /** A newer photo came: the older one's confidence is no longer wanted. */
    newerPhoto() {
      confidenceFor = null;
    },
    /** The caller of job `id` has moved on (`cancelled` has it already). */
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
