// The page's own small worker for per-pixel display work, so the UI thread never does any:
//  - the photo decoded and drawn upright (EXIF orientation applied here, the same way in every
//    browser), handed back as an ImageBitmap;
//  - the overlay repainted when the view changes (classes hidden, isolated or highlighted,
//    the confidence view, the confidence threshold), handed back as an ImageBitmap.
//
// Both at a display scale (lib/display-scale.js): 1 is the labels' full resolution, less keeps
// a big photo at the screen's resolution.
//
// Messages in:  {type: 'decode', key, file, limit?}     start decoding while the model runs;
//                                                         with a limit, keep it upright at
//                                                         most that many pixels on its long
//                                                         side (not 46 MB through a 12 MP run)
//               {type: 'photo', seq, key, width, height, scale?}  draw it upright at the labels'
//                                                         size (width x height) times scale
//               {type: 'drop', key}
//               {type: 'labels', labels: Uint8Array, width, height}
//               {type: 'confidence', confidence: Uint8Array}   of the labels set last
//               {type: 'clear'}                           let go of labels and confidence
//               {type: 'paint', seq, mode: 'classes'|'confidence', lut: Uint32Array(256),
//                threshold: 0..255, scale?}
// Messages out: {type: 'photo', seq, bitmap|null}
//               {type: 'paint', seq, bitmap|null}    null: no labels (cleared)
import { colorizedBitmap, greyLut, sampleNearest } from './colorize.js';
import { displaySize } from './display-scale.js';
import { decoderAppliesOrientation, exifOrientation, orientationTransform } from './exif.js';

let labels = null;
let confidence = null;
let width = 0;
let height = 0;
let sampled = null; // {scale, labels, confidence}: the maps at the last paint's scale below 1
const decoded = new Map(); // key -> Promise<{raw, orientation, tagged, file} | {small, ...}>

self.onmessage = async ({ data: message }) => {
  if (message.type === 'decode') {
    const job = decode(message.file).then((photo) => shrink(photo, message.limit ?? Infinity));
    job.catch(() => {});
    decoded.set(message.key, job);
  } else if (message.type === 'drop') {
    decoded.get(message.key)?.then(({ raw, small }) => (raw ?? small).close(), () => {});
    decoded.delete(message.key);
  } else if (message.type === 'photo') {
    const job = decoded.get(message.key);
    decoded.delete(message.key);
    const bitmap = job ? await uprightPhoto(await job.catch(() => null), message).catch(() => null) : null;
    self.postMessage({ type: 'photo', seq: message.seq, bitmap }, bitmap ? [bitmap] : []);
  } else if (message.type === 'labels') {
    ({ labels, width, height } = message);
    confidence = sampled = null;
  } else if (message.type === 'confidence') {
    confidence = message.confidence;
    sampled = null;
  } else if (message.type === 'clear') {
    labels = confidence = sampled = null;
  } else if (message.type === 'paint') {
    const bitmap = labels ? await paint(message) : null;
    self.postMessage({ type: 'paint', seq: message.seq, bitmap }, bitmap ? [bitmap] : []);
  }
};

async function decode(file) {
  const [orientation, applied, raw] = await Promise.all([
    file.slice(0, 256 * 1024).arrayBuffer().then(exifOrientation),
    decoderAppliesOrientation(),
    createImageBitmap(file),
  ]);
  // Drawing into a 2D canvas below follows the decoder's orientation; add ours if it has none.
  return { raw, orientation: applied ? 1 : orientation, tagged: orientation !== 1, file };
}

/** A decoded photo bigger than `limit` pixels on its long side: drawn upright at that size
 *  now, its full-resolution bitmap let go. */
function shrink(photo, limit) {
  const { raw, orientation, file } = photo;
  if (Math.max(raw.width, raw.height) <= limit) return photo;
  const upright = orientationTransform(orientation, raw.width, raw.height);
  const small = drawUpright(raw, upright, limit / Math.max(raw.width, raw.height));
  raw.close();
  return { small, upright, file };
}

function drawUpright(raw, { width: w, height: h, matrix }, scale) {
  const size = displaySize(w, h, scale);
  const canvas = new OffscreenCanvas(size.width, size.height);
  const context = canvas.getContext('2d');
  context.imageSmoothingQuality = 'medium'; // (mipmapped: a 5x smaller copy without aliasing)
  context.scale(size.width / w, size.height / h);
  context.transform(...matrix);
  context.drawImage(raw, 0, 0);
  return canvas.transferToImageBitmap();
}

/** The photo upright at width x height (the labels' size) times scale, or null if the browser
 *  cannot decode it. A shrunk one as it is (the page shows any bitmap at the photo's CSS size). */
async function uprightPhoto(photo, { width, height, scale = 1 }) {
  if (!photo) return null;
  if (photo.small) {
    if (photo.upright.width === width && photo.upright.height === height) return photo.small;
    // The decoder applied the orientation after all: once more, from the file.
    photo.small.close();
    return uprightPhoto(await decode(photo.file), { width, height, scale });
  }
  const { raw, orientation, tagged } = photo;
  let { width: w, height: h, matrix } = orientationTransform(orientation, raw.width, raw.height);
  if (w !== width || h !== height) {
    // The decoder applied the orientation after all (or there was none to apply).
    ({ width: w, height: h, matrix } = orientationTransform(1, raw.width, raw.height));
  }
  if (w !== width || h !== height) {
    raw.close();
    return null;
  }
  // No orientation tag: the decoded bitmap itself is the upright photo, not a copy drawn from
  // it (46 MB more at 12 MP, beside the overlay's). A tagged one is drawn even where the
  // decoder orients: its bitmap keeps the stored pixels and applies the tag only when drawn
  // (a bitmaprenderer canvas would show it as stored).
  if (!tagged && matrix.join() === '1,0,0,1,0,0' && scale >= 1) return raw;
  const bitmap = drawUpright(raw, { width: w, height: h, matrix }, scale);
  raw.close();
  return bitmap;
}

/** Each pixel in lut[class], or its confidence in grey (web/lib/colorize.js, the one colouring
 *  function the engine worker's overlays use too); below the threshold: transparent. */
async function paint({ mode, lut, threshold, scale = 1 }) {
  const maps = atScale(scale);
  const { width: w, height: h } = displaySize(width, height, scale);
  if (mode === 'confidence' && maps.confidence) return colorizedBitmap(maps.confidence, greyLut(threshold), w, h);
  return colorizedBitmap(maps.labels, lut, w, h, { mask: maps.confidence, threshold });
}

/** The labels and confidence at a display scale: below 1, sampled once per scale and kept for
 *  the repaints that follow (legend, threshold). */
function atScale(scale) {
  if (scale >= 1) return { labels, confidence };
  if (sampled?.scale !== scale) {
    const { width: w, height: h } = displaySize(width, height, scale);
    sampled = {
      scale,
      labels: sampleNearest(labels, width, height, w, h),
      confidence: confidence && sampleNearest(confidence, width, height, w, h),
    };
  }
  return sampled;
}
