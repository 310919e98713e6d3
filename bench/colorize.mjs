// The browser's one colouring function (web/lib/colorize.js) against the two loops it replaced
// (web/worker/overlay-image.js's and web/app/paint-worker.js's, as of issue 18), on a 12 MP
// label map, in Node (V8, the same engine as Chromium). Prints medians in ms as JSON.
//   node bench/colorize.mjs [--width 4000] [--height 3000] [--runs 15]
import { classLut, colorize, greyLut } from '../web/lib/colorize.js';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const width = arg('width', 4000);
const height = arg('height', 3000);
const runs = arg('runs', 15);
const count = width * height;

// A blocky map of 30 classes (a segmentation's shape: long runs, few values) and a confidence map.
const labels = new Uint8Array(count);
const confidence = new Uint8Array(count);
for (let y = 0; y < height; y++) {
  for (let x = 0; x < width; x++) {
    const i = y * width + x;
    labels[i] = ((x >> 7) * 7 + (y >> 6) * 3) % 30;
    confidence[i] = (x * 13 + y * 7) & 255;
  }
}
const classes = Array.from({ length: 30 }, (_, id) => ({ id, color: [id * 8, 255 - id * 8, (id * 40) & 255] }));

// Before: overlay-image.js's loop (a fresh lut and output per call) ...
function beforeOverlay(labels, classes) {
  const lut = new Uint32Array(256);
  for (const { id, color: [r, g, b] } of classes) lut[id] = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  const data = new Uint8ClampedArray(labels.length * 4);
  const pixels = new Uint32Array(data.buffer);
  for (let i = 0; i < labels.length; i++) pixels[i] = lut[labels[i]];
  return data;
}
// ... and paint-worker.js's (a reused Uint32 output; threshold over the class colours).
let reused = null;
function beforePaint(labels, lut, confidence, threshold) {
  const count = labels.length;
  reused ??= new Uint32Array(count);
  if (confidence && threshold > 0) {
    for (let i = 0; i < count; i++) reused[i] = confidence[i] < threshold ? 0 : lut[labels[i]];
  } else {
    for (let i = 0; i < count; i++) reused[i] = lut[labels[i]];
  }
  return reused;
}

/** Median ms of each function, run in turns (a, b, c, a, b, c, ...): a busy machine weighs
 *  on all alike. */
function medians(fns) {
  for (const fn of Object.values(fns)) fn(); // warm-up (JIT)
  const times = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let r = 0; r < runs; r++) {
    for (const [name, fn] of Object.entries(fns)) {
      const t = performance.now();
      fn();
      times[name].push(performance.now() - t);
    }
  }
  return Object.fromEntries(
    Object.entries(times).map(([name, list]) => [name, Number(list.sort((a, b) => a - b)[list.length >> 1].toFixed(2))]),
  );
}

// paint-worker.js's confidence view: a grey ramp, below the threshold transparent.
const little = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
function beforeConfidenceView(confidence, threshold) {
  const count = confidence.length;
  reused ??= new Uint32Array(count);
  const grey = new Uint32Array(256);
  for (let v = 0; v < 256; v++) grey[v] = little ? (0xff000000 | (v << 16) | (v << 8) | v) >>> 0 : ((v << 24) | (v << 16) | (v << 8) | 0xff) >>> 0;
  for (let i = 0; i < count; i++) {
    const c = confidence[i];
    reused[i] = c < threshold ? 0 : grey[c];
  }
  return reused;
}

const lut = classLut(classes);
const out = new Uint8ClampedArray(count * 4);
// The same pixels both ways, or the comparison means nothing.
const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
if (!same(beforeOverlay(labels, classes), colorize(labels, classLut(classes)))) throw new Error('overlay differs');
if (!same(beforePaint(labels, lut, confidence, 100), colorize(labels, lut, { out, mask: confidence, threshold: 100 }))) throw new Error('paint differs');
if (!same(beforeConfidenceView(confidence, 100), colorize(confidence, greyLut(100), { out }))) throw new Error('confidence view differs');

const figures = {
  megapixels: count / 1e6,
  runs,
  ...medians({
    overlay_before_ms: () => beforeOverlay(labels, classes),
    overlay_after_ms: () => colorize(labels, classLut(classes)),
    paint_before_ms: () => beforePaint(labels, lut, null, 0),
    paint_after_ms: () => colorize(labels, lut, { out }),
    threshold_before_ms: () => beforePaint(labels, lut, confidence, 100),
    threshold_after_ms: () => colorize(labels, lut, { out, mask: confidence, threshold: 100 }),
    confidence_view_before_ms: () => beforeConfidenceView(confidence, 100),
    confidence_view_after_ms: () => colorize(confidence, greyLut(100), { out }),
  }),
};
console.log(JSON.stringify(figures, null, 1));
