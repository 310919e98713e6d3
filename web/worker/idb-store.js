// The worker's one IndexedDB database, for both of its caches:
//
//   database 'sceneseg', version 1
//     store 'models'   the model weights (model-cache.js): one record per file, key path 'sha256',
//                      {sha256, name, size, bytes: ArrayBuffer, stored: ms since 1970}
//     store 'python'   Python's start-up snapshot where the origin private file system is not
//                      available (python-snapshot-store.js): one record, key 'python',
//                      {key: build-info.json's text, data: Uint8Array, encoding: 'gzip'}
//
// It replaces two databases of earlier builds, each cache's own: 'sceneseg-models' (store
// 'files', the same model records) and 'sceneseg-python' (store 'snapshots'). The first open in
// a worker clears them out: model records are moved here as they are (a visitor who had the
// model does not download it again); the Python snapshot is deleted, not moved: it is keyed by
// the exact build-info.json of the build that made it, and a build with this module has
// another one, so it could never be restored (this build makes its own once idle). Both old
// databases are then deleted, nothing is left behind.
//
// One connection per worker, opened on first use and kept (a 'versionchange' from another tab
// closes it; the next call opens it again). Opening gives up after OPEN_TIMEOUT_MS: a blocked or
// hung open must not hold up the start; the callers then run without their cache.

export const DB_NAME = 'sceneseg';
const DB_VERSION = 1;
export const MODELS = 'models';
export const PYTHON = 'python';
const OPEN_TIMEOUT_MS = 3000;

/** The databases of earlier builds: moved into this one (`into`) or only deleted. */
export const LEGACY = [
  { name: 'sceneseg-models', store: 'files', into: MODELS },
  { name: 'sceneseg-python', store: 'snapshots', into: null },
];

let connection = null; // Promise<IDBDatabase>, for the worker's life

/** The database, opened (and earlier builds' databases migrated) on first use. */
export function openStore() {
  connection ??= openAndMigrate().catch((error) => {
    connection = null; // the next call tries again
    throw error;
  });
  return connection;
}

async function openAndMigrate() {
  if (!globalThis.indexedDB) throw new Error('IndexedDB is not available');
  // Which old databases exist, asked while this one opens (indexedDB.databases(): Chromium,
  // Safari, Firefox 126+; without it, they are looked for when this database is new).
  const names = typeof indexedDB.databases === 'function' ? indexedDB.databases().then((list) => list.map((d) => d.name), () => null) : Promise.resolve(null);
  const { db, created } = await open();
  const present = await names;
  const legacy = present ? LEGACY.filter(({ name }) => present.includes(name)) : created ? LEGACY : [];
  for (const old of legacy) {
    try {
      if (old.into) await moveRecords(old, db);
    } catch {
      // Unreadable (or another tab deleted it meanwhile): its records are lost, the model is
      // downloaded again; the database is deleted all the same.
    }
    await deleteDatabase(old.name);
  }
  return db;
}

function open() {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('IndexedDB did not open (blocked)')), OPEN_TIMEOUT_MS);
    const fail = (error) => {
      clearTimeout(timer);
      reject(error);
    };
    let request;
    try {
      request = indexedDB.open(DB_NAME, DB_VERSION);
    } catch (error) {
      return fail(error);
    }
    let created = false;
    request.onupgradeneeded = ({ oldVersion }) => {
      created = oldVersion === 0;
      const db = request.result;
      if (!db.objectStoreNames.contains(MODELS)) db.createObjectStore(MODELS, { keyPath: 'sha256' });
      if (!db.objectStoreNames.contains(PYTHON)) db.createObjectStore(PYTHON);
    };
    request.onsuccess = () => {
      clearTimeout(timer);
      const db = request.result;
      // Another tab wants a newer version (or to delete it): let go; the next call reopens.
      db.onversionchange = () => {
        db.close();
        connection = null;
      };
      db.onclose = () => (connection = null); // closed by the browser (storage cleared)
      resolve({ db, created });
    };
    request.onerror = () => fail(request.error ?? new Error('IndexedDB failed to open'));
    request.onblocked = () => fail(new Error('IndexedDB is blocked by another tab'));
  });
}

/**
 * One request in its own transaction on `store`; resolves with its result once the
 * transaction has committed (so a write is on disk when it resolves).
 * @param {string} store  MODELS or PYTHON
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest} action
 */
export async function storeRequest(store, mode, action) {
  const db = await openStore();
  return transact(db, store, mode, action);
}

function transact(db, store, mode, action) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const request = action(tx.objectStore(store));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error ?? request.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/**
 * One record, read without creating or migrating anything: for a worker that only reads while
 * the engine's worker owns the database (the model's, model-worker.js). Null if the database,
 * the store or the record is not there.
 */
export async function peekRecord(store, key) {
  if (!globalThis.indexedDB) return null;
  const db = await openExisting(DB_NAME);
  if (!db) return null;
  try {
    if (!db.objectStoreNames.contains(store)) return null;
    return (await transact(db, store, 'readonly', (s) => s.get(key))) ?? null;
  } finally {
    db.close();
  }
}

/** Every record of `store`, one at a time (values are not all held at once). */
export async function eachRecord(store, visit) {
  const db = await openStore();
  await new Promise((resolve, reject) => {
    const tx = db.transaction(store, 'readonly');
    const cursor = tx.objectStore(store).openCursor();
    cursor.onsuccess = () => {
      const at = cursor.result;
      if (!at) return;
      visit(at.value);
      at.continue();
    };
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
}

// ---------------------------------------------------------------------------------------------
// Earlier builds' databases

/** Open an existing database without creating it: null if there is none. */
function openExisting(name) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name);
    let absent = false;
    request.onupgradeneeded = () => {
      absent = true; // version 0: it did not exist; aborting leaves none behind
      request.transaction.abort();
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = (event) => {
      event.preventDefault();
      if (absent) resolve(null);
      else reject(request.error);
    };
    request.onblocked = () => reject(new Error(`${name} is blocked`));
  });
}

/** Copy every record of an old database's store into `into`, one record at a time (a model
 *  file may be hundreds of MB: never all in memory at once). */
async function moveRecords({ name, store, into }, db) {
  const old = await openExisting(name);
  if (!old) return;
  try {
    if (!old.objectStoreNames.contains(store)) return;
    const keys = await transact(old, store, 'readonly', (s) => s.getAllKeys());
    for (const key of keys) {
      const record = await transact(old, store, 'readonly', (s) => s.get(key));
      if (record) await transact(db, into, 'readwrite', (s) => s.put(record));
    }
  } finally {
    old.close();
  }
}

/** Delete a database; resolves once deleted, or at once if another tab holds it open (the
 *  browser deletes it when that tab lets go). */
function deleteDatabase(name) {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}
