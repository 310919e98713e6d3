// Model weights in IndexedDB, keyed by their sha256: a return visit downloads no model byte.
//
// Why IndexedDB and not the service worker's cache: the weights are the one large file a visitor
// may or may not need (each precision or variant is its own file, only the one in use is ever
// fetched), so the service worker leaves them out of its precache and they have exactly one home,
// here. Entries are verified (size and sha256) every time they are read: a corrupted or
// truncated entry is deleted and the file fetched again. Any storage failure (no IndexedDB,
// blocked, quota exceeded, private windows) only turns caching off: the model then comes from
// the network and the caller is told why.

import { eachRecord, MODELS, openStore, peekRecord, storeRequest } from './idb-store.js';

// The store 'models' of the worker's one database (idb-store.js, which names both).
const call = (mode, action) => storeRequest(MODELS, mode, action);

/**
 * The model file's bytes, from IndexedDB when a verified copy is there, else from the network
 * (and then stored).
 *
 * @param {{url: URL|string, name: string, size: number, sha256: string,
 *          keep: string[], onBytes?: Function, digest: (data: Uint8Array) => Promise<string>,
 *          download: (url, expected, onBytes) => Promise<Uint8Array>}} file
 *   keep: sha256 of every model file of the current build (entries of older builds are evicted)
 * @returns {Promise<{bytes: Uint8Array, source: 'cache'|'network', cache: {on: boolean, note?: string}}>}
 */
export async function loadModelFile({ url, name, size, sha256, keep, onBytes, digest, download }) {
  let db = null;
  const cache = { on: true };
  try {
    db = await openStore();
  } catch (error) {
    cache.on = false;
    cache.note = `model caching is off: ${error.message}`;
  }
  if (db) {
    try {
      const entry = await call('readonly', (store) => store.get(sha256));
      if (entry) {
        const bytes = new Uint8Array(entry.bytes);
        if (bytes.length === size && (await digest(bytes)) === sha256) {
          return { bytes, source: 'cache', cache };
        }
        // Damaged (truncated, bit rot, tampering): drop it and download a good copy.
        await call('readwrite', (store) => store.delete(sha256));
        cache.note = 'the cached model was damaged; downloaded it again';
      }
    } catch (error) {
      cache.note = `could not read the model cache: ${error.message}`;
    }
  }
  const bytes = await download(url, { size, sha256 }, onBytes);
  if (db) {
    try {
      await call('readwrite', (store) => store.put({ sha256, name, size, bytes: bytes.buffer.slice(0), stored: Date.now() }));
      await evictOthers(keep);
    } catch (error) {
      cache.on = false;
      cache.note = `model caching is off: ${error.name === 'QuotaExceededError' ? 'no storage space left' : error.message}`;
    }
  }
  return { bytes, source: 'network', cache };
}

/**
 * A verified copy of the file from IndexedDB, or null (none there, damaged, unreadable). It only
 * reads: loadModelFile, which runs after a null, deletes a damaged copy and downloads a good one.
 * The model's own worker (model-worker.js) calls it to make its session from the cached file
 * without waiting for the engine's thread.
 * @param {{size: number, sha256: string, digest: (data: Uint8Array) => Promise<string>}} file
 * @returns {Promise<Uint8Array|null>}
 */
export async function readCachedModel({ size, sha256, digest }) {
  try {
    const entry = await peekRecord(MODELS, sha256);
    if (!entry) return null;
    const bytes = new Uint8Array(entry.bytes);
    return bytes.length === size && (await digest(bytes)) === sha256 ? bytes : null;
  } catch {
    return null;
  }
}

async function evictOthers(keep) {
  const keys = await call('readonly', (store) => store.getAllKeys());
  const stale = keys.filter((key) => !keep.includes(key));
  for (const key of stale) await call('readwrite', (store) => store.delete(key));
}

/** What the cache holds: [{name, size, sha256, stored}] (without the bytes). */
export async function listCachedModels() {
  const entries = [];
  await eachRecord(MODELS, ({ name, size, sha256, stored }) => entries.push({ name, size, sha256, stored }));
  return entries;
}

export async function clearCachedModels() {
  await call('readwrite', (store) => store.clear());
}
