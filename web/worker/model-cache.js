// Model weights in IndexedDB, keyed by their sha256: a return visit downloads no model byte.
//
// Why IndexedDB and not the service worker's cache: the weights are the one large file a visitor
// may or may not need (each precision or variant is its own file, only the one in use is ever
// fetched), so the service worker leaves them out of its precache and they have exactly one home,
// here. Entries are verified (size and sha256) every time they are read: a corrupted or
// truncated entry is deleted and the file fetched again. Any storage failure (no IndexedDB,
// blocked, quota exceeded, private windows) only turns caching off: the model then comes from
// the network and the caller is told why.

const DB_NAME = 'sceneseg-models';
const STORE = 'files';
const OPEN_TIMEOUT_MS = 3000; // 'blocked' or a hung open must not hold up the app

/** @returns {Promise<IDBDatabase>} */
function openDb() {
  return new Promise((resolve, reject) => {
    if (!globalThis.indexedDB) return reject(new Error('IndexedDB is not available'));
    const timer = setTimeout(() => reject(new Error('IndexedDB did not open (blocked)')), OPEN_TIMEOUT_MS);
    let request;
    try {
      request = indexedDB.open(DB_NAME, 1);
    } catch (error) {
      clearTimeout(timer);
      return reject(error);
    }
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'sha256' });
    request.onsuccess = () => {
      clearTimeout(timer);
      resolve(request.result);
    };
    request.onerror = () => {
      clearTimeout(timer);
      reject(request.error ?? new Error('IndexedDB failed to open'));
    };
    request.onblocked = () => {
      clearTimeout(timer);
      reject(new Error('IndexedDB is blocked by another tab'));
    };
  });
}

function call(db, mode, action) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = action(tx.objectStore(STORE));
    let result;
    request.onsuccess = () => (result = request.result);
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error ?? request.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

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
    db = await openDb();
  } catch (error) {
    cache.on = false;
    cache.note = `model caching is off: ${error.message}`;
  }
  if (db) {
    try {
      const entry = await call(db, 'readonly', (store) => store.get(sha256));
      if (entry) {
        const bytes = new Uint8Array(entry.bytes);
        if (bytes.length === size && (await digest(bytes)) === sha256) {
          db.close();
          return { bytes, source: 'cache', cache };
        }
        // Damaged (truncated, bit rot, tampering): drop it and download a good copy.
        await call(db, 'readwrite', (store) => store.delete(sha256));
        cache.note = 'the cached model was damaged; downloaded it again';
      }
    } catch (error) {
      cache.note = `could not read the model cache: ${error.message}`;
    }
  }
  const bytes = await download(url, { size, sha256 }, onBytes);
  if (db) {
    try {
      await call(db, 'readwrite', (store) => store.put({ sha256, name, size, bytes: bytes.buffer.slice(0), stored: Date.now() }));
      await evictOthers(db, keep);
    } catch (error) {
      cache.on = false;
      cache.note = `model caching is off: ${error.name === 'QuotaExceededError' ? 'no storage space left' : error.message}`;
    } finally {
      db.close();
    }
  }
  return { bytes, source: 'network', cache };
}

async function evictOthers(db, keep) {
  const keys = await call(db, 'readonly', (store) => store.getAllKeys());
  const stale = keys.filter((key) => !keep.includes(key));
  for (const key of stale) await call(db, 'readwrite', (store) => store.delete(key));
}

/** What the cache holds: [{name, size, sha256, stored}] (without the bytes). */
export async function listCachedModels() {
  const db = await openDb();
  try {
    const entries = [];
    await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readonly');
      const cursor = tx.objectStore(STORE).openCursor();
      cursor.onsuccess = () => {
        const at = cursor.result;
        if (!at) return;
        const { name, size, sha256, stored } = at.value;
        entries.push({ name, size, sha256, stored });
        at.continue();
      };
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    return entries;
  } finally {
    db.close();
  }
}

export async function clearCachedModels() {
  const db = await openDb();
  try {
    await call(db, 'readwrite', (store) => store.clear());
  } finally {
    db.close();
  }
}
