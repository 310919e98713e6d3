// Video frames in the worker: the frame (VideoFrame or ImageBitmap, transferred) is scaled to
// the model's input size by drawing it into a canvas (GPU), read back as RGBA bytes and handed
// to Python (sceneseg.video) as an array: no image encoding or decoding per frame. The
// requests 'frame' and 'shares' (fields and replies: lib/engine-protocol.js).
import { RequestError } from '../lib/engine-protocol.js';
import { overlayBitmap } from './overlay-image.js';

let canvas = null;
let context = null;
let palette = null; // [[r, g, b], ...] by class id, from the model's config
let names = null; // class names by id
let latest = null; // the newest frame not yet started: older ones are dropped, never queued
let previous = null; // the last frame's labels: flicker = share of pixels whose label changed

/** Called on arrival, before the job queue: a newer frame replaces a waiting one, which is
 *  answered null at once (replies: the entry's createReplier). */
export function acceptFrame(message, replies) {
  if (latest) {
    latest.frame.close?.();
    replies.reply(latest.id, null);
  }
  latest = message;
}

/** Called from the job queue (one job at a time with photos): {value, transfer}, or null if
 *  the frame was replaced (and answered) already. */
export async function segmentFrame({ id }, python) {
  if (!latest || latest.id !== id) return null; // superseded by a newer frame
  const message = latest;
  latest = null;
  const { py } = python;
  const { frame } = message;
  const start = performance.now();
  let { inputWidth: w, inputHeight: h } = message;
  if (message.inputShort) {
    // A short side: the other in proportion, both multiples of 32, by the rule detail's photo
    // size follows (one rule, in Python: sceneseg.resolution.scaled_size).
    const size = py.pyimport('sceneseg.resolution').scaled_size(frame.displayWidth ?? frame.width, frame.displayHeight ?? frame.height, message.inputShort);
    [w, h] = size.toJs();
    size.destroy();
  }
  if (!canvas || canvas.width !== w || canvas.height !== h) {
    canvas = new OffscreenCanvas(w, h);
    context = canvas.getContext('2d', { willReadFrequently: true, alpha: false });
  }
  context.drawImage(frame, 0, 0, w, h);
  frame.close?.();
  const rgba = context.getImageData(0, 0, w, h).data;
  const scaleMs = performance.now() - start;
  const video = py.pyimport('sceneseg.video');
  if (!palette) {
    const model = py.pyimport('sceneseg.browser')._segmenter.model;
    palette = model.colors.toJs();
    names = model.labels.toJs();
  }
  const options = {
    alpha: message.alpha,
    reset: message.reset,
    labelWidth: message.labelWidth,
    labelHeight: message.labelHeight,
  };
  const proxy = await video.segment_frame(new Uint8Array(rgba.buffer), w, h, options);
  const value = proxy.toJs({ dict_converter: Object.fromEntries });
  proxy.destroy();
  value.classes = value.classes.map(([cid, fraction]) => ({ id: cid, name: names[cid], color: palette[cid], fraction }));
  const t = performance.now();
  value.overlay = await overlayBitmap(value.labels, value.width, value.height, value.classes);
  value.flicker = null;
  if (previous && previous.length === value.labels.length && !value.cut) {
    let changed = 0;
    for (let i = 0; i < previous.length; i++) changed += previous[i] !== value.labels[i];
    value.flicker = changed / previous.length;
  }
  previous = value.labels.slice();
  value.input = [w, h];
  value.timings = { scale: scaleMs, ...value.timings, overlay: performance.now() - t, worker: performance.now() - start };
  return { value, transfer: [value.labels.buffer, value.overlay] };
}

/** Request {format: 'csv'|'json', rows}: class shares as a file, written by Python (the same
 *  writer as the batches'); rows: [{photo, width, height, classes: [{id, pixels}]}]. */
export function sharesFile({ format, rows }, { py }) {
  const browser = py.pyimport('sceneseg.browser');
  const proxy = browser.shares_file(String(format), JSON.stringify(rows ?? []));
  const out = proxy.toJs({ dict_converter: Object.fromEntries });
  proxy.destroy();
  if (out.error) throw new RequestError(out.error, 'input');
  return { value: { data: out.data, mime: out.mime }, transfer: [out.data.buffer] };
}
