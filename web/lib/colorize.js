// The one colouring function of the browser: a map of 8-bit values (class ids, or confidence)
// and a 256-entry lookup table in, RGBA out. The engine worker colours every overlay with it
// (photos, video frames, batch thumbnails: web/worker/overlay-image.js) and the page's paint
// worker every repaint (hidden, isolated or highlighted classes, the confidence view:
// paint-worker.js). No DOM: it runs in any worker, and in Node for tests and benchmarks.
//
// Speed: one table lookup and one 32-bit store per pixel (the RGBA bytes viewed as Uint32):
// 12 MP in ~30 ms into a reused buffer, ~60 ms with a fresh one (Node 20 on the 2-core dev
// machine; bench/colorize.mjs, which checks it against the two loops it replaced).

/** True where a Uint32 is stored least significant byte first (every platform browsers run on). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** r, g, b, a (0..255) as the Uint32 whose bytes in memory are r, g, b, a (ImageData's order). */
export function packRGBA(r, g, b, a = 255) {
  return LITTLE_ENDIAN ? ((a << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
}

/**
 * The lookup table of a result's classes: lut[id] = its colour, opaque; ids not listed are
 * transparent (0).
 * @param {{id: number, color: number[]}[]} classes
 * @returns {Uint32Array} 256 entries
 */
export function classLut(classes) {
  const lut = new Uint32Array(256);
  for (const { id, color: [r, g, b] } of classes) lut[id] = packRGBA(r, g, b);
  return lut;
}

/**
 * The grey ramp of the confidence view: value v -> (v, v, v), opaque; values below
 * `threshold` transparent.
 * @returns {Uint32Array} 256 entries
 */
export function greyLut(threshold = 0) {
  const lut = new Uint32Array(256);
  for (let v = threshold; v < 256; v++) lut[v] = packRGBA(v, v, v);
  return lut;
}

/**
 * Each value in its lookup-table colour: rgba[i] = lut[values[i]] (4 bytes per pixel).
 *
 * @param {Uint8Array} values  one byte per pixel (class ids, or round(p * 255))
 * @param {Uint32Array} lut  256 colours, packed as packRGBA does
 * @param {{out?: Uint8ClampedArray, mask?: Uint8Array, threshold?: number}} [options]
 *   out: RGBA bytes to write into (4 * values.length, reused between calls); mask and
 *   threshold: pixels whose mask value is below threshold are transparent (the confidence
 *   threshold over the class colours)
 * @returns {Uint8ClampedArray} RGBA, values.length * 4 bytes (`out` if given)
 */
export function colorize(values, lut, { out, mask, threshold = 0 } = {}) {
  const count = values.length;
  const rgba = out ?? new Uint8ClampedArray(count * 4);
  if (rgba.length !== count * 4) throw new RangeError(`out holds ${rgba.length} bytes, ${count * 4} needed`);
  if (lut.length !== 256) throw new RangeError('the lookup table needs 256 entries');
  const pixels = new Uint32Array(rgba.buffer, rgba.byteOffset, count);
  if (mask && threshold > 0) {
    for (let i = 0; i < count; i++) pixels[i] = mask[i] < threshold ? 0 : lut[values[i]];
  } else {
    for (let i = 0; i < count; i++) pixels[i] = lut[values[i]];
  }
  return rgba;
}

/** Pixels coloured at a time by colorizedBitmap: 1 MP, 4 MB of RGBA. */
const STRIP_PIXELS = 1 << 20;

/**
 * colorize() straight into an ImageBitmap, a strip of rows at a time (workers, or pages with
 * OffscreenCanvas): no full-size RGBA array beside the bitmap, which at 12 MP would be 46 MB
 * more at the peak and 46 MB of garbage after it.
 * @param {Uint8Array} values  width * height bytes, row-major
 * @returns {ImageBitmap}
 */
export function colorizedBitmap(values, lut, width, height, { mask, threshold = 0 } = {}) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  const rows = Math.max(1, Math.min(height, Math.floor(STRIP_PIXELS / width)));
  let strip = new ImageData(width, rows);
  for (let y = 0; y < height; y += rows) {
    const count = Math.min(rows, height - y);
    if (count !== strip.height) strip = new ImageData(width, count);
    const start = y * width;
    const end = start + count * width;
    colorize(values.subarray(start, end), lut, { out: strip.data, mask: mask?.subarray(start, end), threshold });
    context.putImageData(strip, 0, y);
  }
  return canvas.transferToImageBitmap();
}

/**
 * A map of 8-bit values (class ids, confidence) at a smaller size, each pixel the value under
 * its centre (nearest neighbour: a label is never blended into a class that is not there).
 * The page shows a big photo's overlay at the screen's resolution with it (paint-worker.js).
 * @param {Uint8Array} values  width * height bytes, row-major
 * @returns {Uint8Array} w * h bytes
 */
export function sampleNearest(values, width, height, w, h) {
  const out = new Uint8Array(w * h);
  const columns = new Uint32Array(w);
  for (let x = 0; x < w; x++) columns[x] = Math.min(width - 1, Math.floor(((x + 0.5) * width) / w));
  for (let y = 0; y < h; y++) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / h)) * width;
    const at = y * w;
    for (let x = 0; x < w; x++) out[at + x] = values[row + columns[x]];
  }
  return out;
}
