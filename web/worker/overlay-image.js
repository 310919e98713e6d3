// The colour overlay, made in the worker: a 12-megapixel label map takes a few hundred ms
// to colour and upload, which would freeze the page if the UI thread did it. The colouring
// itself is the browser's one function, web/lib/colorize.js (the page's repaints use it too).
import { classLut, colorizedBitmap } from '../lib/colorize.js';

/**
 * Each pixel in its class colour, as an ImageBitmap the page can show without copying.
 * @param {Uint8Array} labels  width * height class ids, row-major
 * @param {{id: number, color: number[]}[]} classes  at least every id present in labels
 * @returns {ImageBitmap}
 */
export function overlayBitmap(labels, width, height, classes) {
  return colorizedBitmap(labels, classLut(classes), width, height);
}
