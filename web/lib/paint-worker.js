// The page's own small worker for per-pixel display work, so the UI thread never does any:
//  - the photo decoded and drawn upright (EXIF orientation applied here, the same way in every
//    browser), handed back as an ImageBitmap;
//  - the overlay repainted when the view changes (classes hidden, isolated or highlighted,
//    the confidence view, the confidence threshold), handed back as an ImageBitmap.
//
// Messages in:  {type: 'decode', key, file}             start decoding while the model runs
//               {type: 'photo', seq, key, width, height} draw it upright at the labels' size
//               {type: 'drop', key}
//               {type: 'labels', labels: Uint8Array, width, height}
//               {type: 'confidence', confidence: Uint8Array}   of the labels set last
//               {type: 'clear'}                           let go of labels and confidence
//               {type: 'paint', seq, mode: 'classes'|'confidence', lut: Uint32Array(256),
//                threshold: 0..255}
// Messages out: {type: 'photo', seq, bitmap|null}
//               {type: 'paint', seq, bitmap|null}    null: no labels (cleared)
import { colorizedBitmap, greyLut } from './colorize.js';
import { decoderAppliesOrientation, exifOrientation, orientationTransform } from './exif.js';

let labels = null;
let confidence = null;
let width = 0;
let height = 0;
const decoded = new Map(); // key -> Promise<{raw: ImageBitmap, orientation}>

self.onmessage = async ({ data: message }) => {
  if (message.type === 'decode') {
    const job = decode(message.file);
    job.catch(() => {});
    decoded.set(message.key, job);
  } else if (message.type === 'drop') {
    decoded.get(message.key)?.then(({ raw }) => raw.close(), () => {});
    decoded.delete(message.key);
  } else if (message.type === 'photo') {
    const job = decoded.get(message.key);
    decoded.delete(message.key);
    const bitmap = job ? await uprightPhoto(await job.catch(() => null), message).catch(() => null) : null;
    self.postMessage({ type: 'photo', seq: message.seq, bitmap }, bitmap ? [bitmap] : []);
  } else if (message.type === 'labels') {
    ({ labels, width, height } = message);
    confidence = null;
  } else if (message.type === 'confidence') {
    confidence = message.confidence;
  } else if (message.type === 'clear') {
    labels = confidence = null;
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
  return { raw, orientation: applied ? 1 : orientation, tagged: orientation !== 1 };
}

/** The photo upright at width x height (the labels' size), or null if the browser cannot decode it. */
async function uprightPhoto(photo, { width, height }) {
  if (!photo) return null;
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
  if (!tagged && matrix.join() === '1,0,0,1,0,0') return raw;
  const canvas = new OffscreenCanvas(w, h);
  const context = canvas.getContext('2d');
  context.setTransform(...matrix);
  context.drawImage(raw, 0, 0);
  raw.close();
  return canvas.transferToImageBitmap();
}

/** Each pixel in lut[class], or its confidence in grey (web/lib/colorize.js, the one colouring
 *  function the engine worker's overlays use too); below the threshold: transparent. */
async function paint({ mode, lut, threshold }) {
  if (mode === 'confidence' && confidence) return colorizedBitmap(confidence, greyLut(threshold), width, height);
  return colorizedBitmap(labels, lut, width, height, { mask: confidence, threshold });
}
