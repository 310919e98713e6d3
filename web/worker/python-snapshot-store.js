// Where Python's start-up snapshot (python-snapshot.js) is kept between visits, and how it is
// checked before use. One snapshot per origin: the latest build's, keyed by the build's text.
//
// - In a secure context (https, or localhost) the snapshot is one file in the origin private
//   file system (OPFS), stored raw with its SHA-256 and read back in one synchronous call.
//   Measured here for ~35 MB in a worker: 22-32 ms, where IndexedDB took 65-120 ms; in a trace
//   of a busy reload IndexedDB's read and deserialization held this worker ~200 ms, on the way
//   to 'ready'.
//     OPFS file 'python-snapshot': [u32 header length][header: JSON {format, key, sha256, size}]
//                                  [zeros up to a multiple of 16][the packed snapshot]
// - Elsewhere (a page over plain http on a LAN address: neither Web Crypto nor OPFS exist
//   there) it is an IndexedDB record (idb-store.js, store 'python', key 'python'), gzip'd,
//   the gzip trailer's CRC-32 being the check: {key, data, encoding: 'gzip'}.
//
// A damaged or unreadable snapshot throws; the caller (python-runtime.js) deletes it and starts
// Python normally, then stores a new one.
import { hasWebCrypto, webCryptoSha256 } from './fetch-verified.js';
import { PYTHON, storeRequest } from './idb-store.js';

const FORMAT = 1; // the file header's layout
const FILE = 'python-snapshot';
const ENTRY = 'python'; // the IndexedDB record's key

/** OPFS with synchronous access (a dedicated worker of a secure context), else IndexedDB.
 * Found out on first use, not when the module loads: Node (bench/python_startup.mjs) imports
 * this module too. */
let opfs = null;
const inOpfs = () =>
  (opfs ??=
    hasWebCrypto &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof FileSystemFileHandle !== 'undefined' &&
    'createSyncAccessHandle' in FileSystemFileHandle.prototype);

/** Where snapshots are kept in this context: 'opfs' or 'indexeddb'. */
export const snapshotStorage = () => (inOpfs() ? 'opfs' : 'indexeddb');

/**
 * The stored snapshot's bytes (as packSnapshot made them) if it was made for cacheKey,
 * checked; null if there is none or it is an older build's (then deleted). timings: ms of the
 * read and the check.
 * @returns {Promise<{bytes: Uint8Array, timings: object} | null>}
 */
export async function readStoredSnapshot(cacheKey, timings = {}) {
  const start = performance.now();
  const entry = await (inOpfs() ? readFile() : readRecord());
  if (!entry) return null;
  if (entry.key !== cacheKey) {
    await deleteStoredSnapshot(); // from an older build: never usable again
    return null;
  }
  const read = performance.now();
  timings.read = read - start;
  let { bytes } = entry;
  if (entry.encoding === 'gzip') {
    bytes = await gunzip(bytes);
    timings.decompress = performance.now() - read;
  } else {
    if (!hasWebCrypto || (await webCryptoSha256(bytes)) !== entry.sha256) {
      throw new Error('the stored snapshot is damaged (SHA-256 differs)');
    }
    timings.verify = performance.now() - read;
  }
  return { bytes, timings };
}

/** Store `packed` for cacheKey, replacing any snapshot; resolves with the bytes stored. */
export async function storeSnapshotBytes(packed, cacheKey) {
  if (!inOpfs()) {
    const data = await gzip(packed);
    await idb('readwrite', (store) => store.put({ key: cacheKey, data, encoding: 'gzip' }, ENTRY));
    return data.byteLength;
  }
  const header = new TextEncoder().encode(
    JSON.stringify({ format: FORMAT, key: cacheKey, sha256: await webCryptoSha256(packed), size: packed.byteLength }),
  );
  const head = new Uint8Array(Math.ceil((4 + header.byteLength) / 16) * 16);
  new DataView(head.buffer).setUint32(0, header.byteLength, true);
  head.set(header, 4);
  const file = await opfsFile(true);
  // Exclusive: another tab writing or reading it now makes this throw, and this tab stores
  // nothing (the other tab's snapshot is the same build's, or the next start replaces it).
  const access = await file.createSyncAccessHandle();
  try {
    access.truncate(0);
    access.write(head, { at: 0 });
    access.write(packed, { at: head.byteLength });
    access.flush();
  } finally {
    access.close();
  }
  // A snapshot of a build from before the file: its IndexedDB record is never read again.
  await idb('readwrite', (store) => store.delete(ENTRY)).catch(() => {});
  return head.byteLength + packed.byteLength;
}

export async function deleteStoredSnapshot() {
  if (inOpfs()) {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(FILE).catch((error) => {
      if (error.name !== 'NotFoundError') throw error;
    });
  } else {
    await idb('readwrite', (store) => store.delete(ENTRY));
  }
}

// ---- OPFS ----------------------------------------------------------------------------------

async function opfsFile(create) {
  const root = await navigator.storage.getDirectory();
  return root.getFileHandle(FILE, { create });
}

/** {key, sha256, bytes} of the file, or null if there is none. */
async function readFile() {
  let file;
  try {
    file = await opfsFile(false);
  } catch (error) {
    if (error.name === 'NotFoundError') return null;
    throw error;
  }
  let all;
  try {
    const access = await file.createSyncAccessHandle();
    try {
      all = new Uint8Array(access.getSize());
      access.read(all, { at: 0 });
    } finally {
      access.close();
    }
  } catch (error) {
    // Another tab holds it (storing, or reading it right now): read it the slower way.
    if (error.name !== 'NoModificationAllowedError') throw error;
    all = new Uint8Array(await (await file.getFile()).arrayBuffer());
  }
  if (all.byteLength < 4) throw new Error('the stored snapshot is damaged (truncated)');
  const length = new DataView(all.buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(all.subarray(4, 4 + length)));
  if (header.format !== FORMAT) throw new Error(`snapshot file format ${header.format}, expected ${FORMAT}`);
  const bytes = all.subarray(Math.ceil((4 + length) / 16) * 16);
  if (bytes.byteLength !== header.size) throw new Error('the stored snapshot is damaged (size differs)');
  return { key: header.key, sha256: header.sha256, bytes };
}

// ---- IndexedDB (no OPFS) -------------------------------------------------------------------

async function readRecord() {
  const entry = await idb('readonly', (store) => store.get(ENTRY));
  return entry ? { key: entry.key, bytes: entry.data, sha256: entry.sha256, encoding: entry.encoding } : null;
}

function idb(mode, operation) {
  return storeRequest(PYTHON, mode, operation);
}

async function gzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
