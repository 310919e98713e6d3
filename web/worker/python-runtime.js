// Pyodide with numpy, Pillow and the sceneseg package, all from this site's own origin.
//
// First visit: loadPyodide + loadPackage('sceneseg') (the wheels ship precompiled bytecode),
// then a memory snapshot of that state is captured (python-snapshot.js) and, once the app is
// ready and idle, stored (python-snapshot-store.js: a file in the origin private file system).
// Return visits restore it: Python is back in ~0.4 s instead
// of ~2 s. Any problem with the snapshot means a normal start, never a wrong result.
import { loadPyodide } from '../vendor/pyodide/pyodide.mjs';
import * as snapshots from './python-snapshot.js';

const PYODIDE_DIR = new URL('../vendor/pyodide/', import.meta.url).href;
const OPTIONS = { indexURL: PYODIDE_DIR, fullStdLib: false };
const IMPORTS = 'import numpy, PIL.Image, sceneseg.browser';

// Runs when a snapshot is made and again after each restore: the restored interpreter must give
// the same digest (JPEG and PNG codecs, resampling, float maths, argmax) or it is not used.
const SELF_CHECK = `
def _sceneseg_self_check():
    import hashlib, io
    import numpy as np
    from PIL import Image
    x = np.arange(48 * 40 * 3, dtype=np.uint32).reshape(40, 48, 3)
    image = Image.fromarray(((x * 2654435761) >> 24).astype(np.uint8))
    digest = hashlib.sha256()
    for fmt in ("JPEG", "PNG"):
        data = io.BytesIO()
        image.save(data, fmt)
        decoded = Image.open(io.BytesIO(data.getvalue())).convert("RGB")
        pixels = np.asarray(decoded.resize((29, 23), Image.BILINEAR), np.float32) / 255
        logits = pixels.reshape(-1, 3) @ np.linspace(-1, 1, 3 * 150, dtype=np.float32).reshape(3, 150)
        digest.update(data.getvalue() + np.exp(logits).sum(1).tobytes() + logits.argmax(1).tobytes())
    return digest.hexdigest()
_sceneseg_self_check()
`;

const RESEED = `
def _sceneseg_reseed(words):
    import random, sys
    words = list(words.to_py())
    random.seed(sum(w << (32 * i) for i, w in enumerate(words[:8])))
    # numpy.random is not shipped (build: sitebuild/python_trim.py); reseeded if it ever is.
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed(words[8:])
_sceneseg_reseed
`;

/** How the latest start went: {mode: 'snapshot'|'normal', ms, steps?: {...ms}, fallback?: reason,
 * storage?: where the snapshot came from, 'opfs'|'indexeddb'}. */
export const pythonStart = { mode: null, ms: null };
let captured = null; // a snapshot made during this start, waiting for saveSnapshotWhenIdle

/**
 * @param {(message: string) => void} onStep
 * @param {{cacheKey?: string, snapshot?: boolean}} [options] cacheKey changes whenever any
 *     shipped file does; without one (or with snapshot: false) Python always starts normally.
 */
export async function startPython(onStep, { cacheKey = null, snapshot = true } = {}) {
  const start = performance.now();
  const usable =
    snapshot && cacheKey !== null && typeof indexedDB !== 'undefined' && typeof DecompressionStream !== 'undefined';
  // build-info.json's text: its version hashes every shipped file (Pyodide's, the wheels, the
  // lock with their sha256), so a snapshot never outlives the Python code in it.
  const key = usable ? cacheKey : null;
  let fallback;
  if (usable) {
    try {
      // Pyodide's core script loads while the snapshot is read (loadPyodide then skips it).
      const script = import(`${PYODIDE_DIR}pyodide.asm.js`);
      const stored = await snapshots.readSnapshot(key);
      await script;
      if (stored) {
        onStep('Restoring Python');
        const restoring = performance.now();
        const detail = {}; // the restore's own steps (python-snapshot.js, restore below)
        const pyodide = await restore(stored, detail);
        const ms = performance.now() - start;
        const steps = { ...stored.timings, restore: performance.now() - restoring };
        Object.assign(pythonStart, { mode: 'snapshot', storage: snapshots.snapshotStorage(), ms, steps, restoreSteps: detail });
        return pyodide;
      }
    } catch (error) {
      fallback = String(error?.message ?? error);
      console.warn(`Python snapshot not used (${fallback}); starting normally`);
      await snapshots.deleteSnapshot().catch(() => {});
    }
  }
  onStep('Starting Python (Pyodide)');
  const steps = {};
  let t = performance.now();
  const pyodide = await loadPyodide({ ...OPTIONS, _makeSnapshot: key !== null });
  steps.core = performance.now() - t;
  const recorder = key !== null ? snapshots.recordDynlibs(pyodide) : null;
  onStep('Loading numpy, Pillow and sceneseg');
  // The shipped pyodide-lock.json lists sceneseg with its dependencies and every wheel's sha256.
  t = performance.now();
  await pyodide.loadPackage('sceneseg', { messageCallback: () => {}, errorCallback: console.error, checkIntegrity: true });
  steps.packages = performance.now() - t;
  t = performance.now();
  pyodide.runPython(IMPORTS);
  steps.imports = performance.now() - t;
  if (recorder) {
    // The heap is copied now, before the app gives Python any state of its own (a few tens of
    // ms); compressing and storing it waits for saveSnapshotWhenIdle.
    const capturing = performance.now();
    try {
      const check = pyodide.runPython(SELF_CHECK);
      captured = { pyodide, key, check, snapshot: snapshots.captureSnapshot(pyodide, recorder) };
      pyodide.runPython('del _sceneseg_self_check');
    } catch (error) {
      console.warn(`No Python snapshot: ${error.message}`);
    }
    steps.capture = performance.now() - capturing;
  }
  Object.assign(pythonStart, { mode: 'normal', ms: performance.now() - start, steps, fallback });
  return pyodide;
}

async function restore(stored, steps) {
  const pyodide = await snapshots.loadFromSnapshot(loadPyodide, OPTIONS, stored, steps);
  const checking = performance.now();
  const check = pyodide.runPython(SELF_CHECK);
  if (check !== stored.meta.check) throw new Error('the restored Python computes differently');
  // Every restore starts from the same random state: draw new seeds (Python's random and,
  // where shipped, numpy's legacy global generator). The str hash seed is fixed at interpreter start and
  // stays the snapshot's; it only matters against hash flooding by untrusted dict keys, and
  // this app keys no dict by input data.
  const reseed = pyodide.runPython(RESEED);
  reseed(crypto.getRandomValues(new Uint32Array(16)));
  reseed.destroy();
  pyodide.runPython('del _sceneseg_self_check, _sceneseg_reseed');
  steps.check = performance.now() - checking;
  const importing = performance.now();
  pyodide.runPython(IMPORTS);
  steps.imports = performance.now() - importing;
  return pyodide;
}

/**
 * Store the snapshot made during a normal start (if any). Call once the app is ready and idle:
 * copying and hashing ~50 MB takes a moment of this worker's time. Resolves with the sizes
 * stored, or null; never rejects (a snapshot is only an optimisation).
 */
export async function saveSnapshotWhenIdle() {
  if (!captured) return null;
  const { pyodide, key, check, snapshot } = captured;
  captured = null;
  snapshot.meta.check = check;
  try {
    return await snapshots.storeSnapshot(pyodide, snapshot, key);
  } catch (error) {
    console.warn(`Python snapshot not stored: ${error.message}`);
    return null;
  }
}
