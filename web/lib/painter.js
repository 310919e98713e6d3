// UI-thread side of paint-worker.js: one request of each kind in flight, the latest wins.

/** Whether an array lives in shared memory (the global exists only where the page may share). */
const isShared = (array) => typeof SharedArrayBuffer !== 'undefined' && array.buffer instanceof SharedArrayBuffer;

/**
 * A copy of a label or confidence map in shared memory, where the page may share it (cross-origin
 * isolated, as the app is for onnxruntime's threads): the page and the paint worker then hold
 * one copy between them instead of one each (12 MB a map at 12 MP). Elsewhere the array itself.
 * @param {Uint8Array} array
 * @returns {Uint8Array}
 */
export function sharedCopy(array) {
  if (!globalThis.crossOriginIsolated || isShared(array)) return array;
  const copy = new Uint8Array(new SharedArrayBuffer(array.byteLength));
  copy.set(array);
  return copy;
}

/** An array for the paint worker: a shared one as it is, otherwise a copy handed over. */
function forWorker(array) {
  if (isShared(array)) return [array, []];
  const copy = array.slice();
  return [copy, [copy.buffer]];
}

export function createPainter() {
  // Named from the site's top: the page's bundle (build: sitebuild/js_bundles.py) is in app/.
  const worker = new Worker(new URL('../lib/paint-worker.js', import.meta.url), { type: 'module' });
  let seq = 0;
  const waiting = new Map(); // seq -> resolve
  worker.onmessage = ({ data }) => {
    const resolve = waiting.get(data.seq);
    waiting.delete(data.seq);
    if (resolve) resolve(data.bitmap);
    else data.bitmap?.close(); // superseded
  };
  let latestPaint = 0;
  return {
    /** Start decoding a photo (while the model runs); returns its key. limit: keep at most
     *  that many pixels on its long side (the screen's, for the page's viewer). */
    decode(file, limit = Infinity) {
      const key = ++seq;
      worker.postMessage({ type: 'decode', key, file, limit });
      return key;
    },
    drop(key) {
      worker.postMessage({ type: 'drop', key });
    },
    /** The decoded photo upright at width x height (times scale: lib/display-scale.js), or
     *  null if this browser cannot decode it. The decoded photo goes with it: once per key. */
    photo(key, width, height, scale = 1) {
      const id = ++seq;
      worker.postMessage({ type: 'photo', seq: id, key, width, height, scale });
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    /** The label map for repainting (the caller keeps its own: shared, or copied here); no
     *  confidence yet. */
    setLabels(labels, width, height) {
      const [sent, transfer] = forWorker(labels);
      worker.postMessage({ type: 'labels', labels: sent, width, height }, transfer);
    },
    /** Let go of the labels and confidence (a new photo is on its way); paint() gives null until setLabels(). */
    clear() {
      worker.postMessage({ type: 'clear' });
    },
    /** The confidence map (round(p * 255)) of the labels set last, as setLabels. */
    setConfidence(confidence) {
      const [sent, transfer] = forWorker(confidence);
      worker.postMessage({ type: 'confidence', confidence: sent }, transfer);
    },
    /** Resolves with an ImageBitmap (the labels' size times scale), or null if a later paint()
     *  replaced this one or there are no labels. */
    paint(mode, lut, threshold, scale = 1) {
      const id = ++seq;
      latestPaint = id;
      worker.postMessage({ type: 'paint', seq: id, mode, lut, threshold, scale });
      return new Promise((resolve) =>
        waiting.set(id, (bitmap) => {
          if (id === latestPaint) resolve(bitmap);
          else {
            bitmap?.close();
            resolve(null);
          }
        }),
      );
    },
  };
}
