// Python (Pyodide) restored from a memory snapshot on return visits: ~0.5 s instead of ~2 s
// (measured here on reloads, medians: read 0.09 s, SHA-256 0.04 s, restore 0.36 s).
//
// Pyodide 0.27.7 can snapshot its heap (loadPyodide's _makeSnapshot/_loadSnapshot options), but
// not once packages with shared libraries are loaded: the heap holds numpy's and Pillow's data
// and function pointers, while their WebAssembly instances and table entries live outside it.
// So, when the snapshot is made, this module records where each shared library sits (memory
// base, table base), every GOT value and every table slot added after Python's start; when it
// is restored, it instantiates the libraries again at exactly those places (through Emscripten's
// loadWebAssemblyModule with a handle that says "already placed"), puts the GOT and table back,
// and copies the snapshot's heap over whatever the re-instantiation wrote (data segments,
// relocations, constructors). Python then finds everything where it left it.
//
// This relies on private internals of the pinned Pyodide 0.27.7. Any mismatch throws; the
// caller (python-runtime.js) then deletes the snapshot and starts Python normally.

import { deleteStoredSnapshot, readStoredSnapshot, storeSnapshotBytes } from './python-snapshot-store.js';

export { snapshotStorage } from './python-snapshot-store.js';

const FORMAT = 2; // bump when the packed layout changes (2: the heap's zero pages left out)
// The heap is stored in 64 KiB pages (WebAssembly's), the all-zero ones left out: a quarter of
// its ~30 MB, which a return visit then neither reads, hashes nor copies.
const PAGE = 65536;

// ---------------------------------------------------------------------------------------------
// Making a snapshot (first start)

/**
 * Call right after loadPyodide({_makeSnapshot: true}) and before any package loads: records
 * where each shared library is placed. Returns the recorder captureSnapshot needs.
 */
export function recordDynlibs(pyodide) {
  const M = pyodide._module;
  const recorder = { libs: [], tableStart: M.wasmTable.length };
  const load = M.loadDynamicLibrary;
  // Pyodide's package loader calls Module.loadDynamicLibrary (the property) for each .so. A
  // zeroed dlopen-style handle makes Emscripten write the library's memory and table bases
  // into it (loadWebAssemblyModule), where we read them back.
  M.loadDynamicLibrary = function (name, flags, localScope, handle) {
    if (handle === undefined && !M.LDSO.loadedLibsByName[name]) {
      handle = M._calloc(1, 48);
      recorder.libs.push({ name, global: Boolean(flags?.global), handle });
    }
    return load.call(this, name, flags, localScope, handle);
  };
  recorder.stop = () => {
    M.loadDynamicLibrary = load;
  };
  return recorder;
}

/**
 * The heap (Pyodide's snapshot format) and what is needed to re-link the shared libraries.
 * Synchronous: copies the heap as it is now (Python idle, packages imported, nothing of the
 * app's state in it yet).
 */
export function captureSnapshot(pyodide, recorder) {
  recorder.stop();
  const M = pyodide._module;
  const byName = M.LDSO.loadedLibsByName;
  const libs = recorder.libs.map(({ name, global, handle }) => {
    const u32 = M.HEAPU32;
    if (!M.HEAP8[handle + 8]) throw new Error(`no placement recorded for ${name}`);
    return {
      name,
      global,
      memoryBase: u32[(handle + 12) >>> 2],
      memorySize: u32[(handle + 16) >>> 2],
      tableBase: u32[(handle + 20) >>> 2],
      tableSize: u32[(handle + 24) >>> 2],
    };
  });
  // Every library loaded must be one we can re-place (e.g. none that Python dlopen()ed itself).
  const recorded = new Set(libs.map((lib) => byName[lib.name]));
  for (const [name, dso] of Object.entries(byName)) {
    if (name !== '__main__' && !recorded.has(dso)) throw new Error(`unrecorded shared library ${name}`);
  }
  // Table slots added after Python's start and not owned by a library: functions whose address
  // was taken (GOT.func), identified by library and export name.
  const ids = new Map();
  for (const lib of libs) {
    for (const [symbol, value] of Object.entries(byName[lib.name].exports)) {
      if (typeof value === 'function' && !ids.has(value)) ids.set(value, [lib.name, symbol]);
    }
  }
  const owned = (i) => libs.some((lib) => i >= lib.tableBase && i < lib.tableBase + lib.tableSize);
  const table = [];
  for (let i = recorder.tableStart; i < M.wasmTable.length; i++) {
    if (owned(i)) continue;
    const f = M.wasmTable.get(i);
    table.push([i, f === null ? null : ids.get(f) ?? 'unknown']);
  }
  const got = Object.entries(M.GOT).map(([symbol, global]) => [symbol, global.value]);
  const handles = Object.entries(M.LDSO.loadedLibsByHandle)
    .map(([handle, dso]) => [Number(handle), Object.keys(byName).find((n) => byName[n] === dso)])
    .filter(([, name]) => name && name !== '__main__');
  // Pyodide checks that the hiwire slot holding loadedPackages is empty ({}), see its issue
  // #5195; we empty it for the copy and give the restored runtime the list back ourselves.
  const loadedPackages = { ...pyodide.loadedPackages };
  for (const key of Object.keys(loadedPackages)) delete pyodide.loadedPackages[key];
  let heap;
  try {
    heap = pyodide.makeMemorySnapshot();
  } finally {
    Object.assign(pyodide.loadedPackages, loadedPackages);
  }
  const meta = {
    format: FORMAT,
    libs,
    tableStart: recorder.tableStart,
    tableLength: M.wasmTable.length,
    table,
    got,
    handles,
    loadedPackages,
    sitePackages: pyodide._api.sitepackages,
  };
  return { heap, meta };
}

/** The files Python installed (site-packages): not in the heap, needed for lazy imports. */
function collectFiles(pyodide, root) {
  const FS = pyodide.FS;
  const files = [];
  const walk = (dir) => {
    for (const name of FS.readdir(dir)) {
      if (name === '.' || name === '..') continue;
      const path = `${dir}/${name}`;
      const { mode } = FS.lstat(path);
      if (FS.isDir(mode)) walk(path);
      else if (FS.isFile(mode)) files.push([path, FS.readFile(path)]);
    }
  };
  walk(root);
  return files;
}

// One buffer: [u32 JSON length][JSON][Pyodide's header][the heap's non-zero pages][file
// bytes...], stored with a check that detects a damaged copy before anything is restored
// (python-snapshot-store.js). Pyodide's snapshot is [header][memory]; meta.heapPages lists the
// memory's non-zero pages as runs [first page, count].
export function pack(meta, heap, files) {
  const headerLength = new Uint32Array(heap.buffer, heap.byteOffset, 2)[1];
  const memory = heap.subarray(headerLength);
  const runs = nonZeroPages(memory);
  const runBytes = ([first, count]) => Math.min(count * PAGE, memory.byteLength - first * PAGE); // the last page may be short
  let offset = headerLength;
  for (const run of runs) offset += runBytes(run);
  meta = { ...meta, heapLength: heap.byteLength, headerLength, heapPages: runs, files: [] };
  for (const [path, data] of files) {
    meta.files.push([path, offset, data.byteLength]);
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const head = Math.ceil((4 + json.byteLength) / 16) * 16; // the header is read as Uint32s
  const out = new Uint8Array(head + offset);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 4);
  out.set(heap.subarray(0, headerLength), head);
  let at = head + headerLength;
  for (const run of runs) {
    out.set(memory.subarray(run[0] * PAGE, run[0] * PAGE + runBytes(run)), at);
    at += runBytes(run);
  }
  for (const [i, [, data]] of files.entries()) out.set(data, head + meta.files[i][1]);
  return out;
}

/** The runs [first, count] of 64 KiB pages of `memory` holding a non-zero byte. */
function nonZeroPages(memory) {
  const words = new Uint32Array(memory.buffer, memory.byteOffset, memory.byteLength >>> 2);
  const pages = Math.ceil(memory.byteLength / PAGE);
  const runs = [];
  for (let page = 0; page < pages; page++) {
    const end = Math.min((page + 1) * (PAGE >>> 2), words.length);
    let used = false;
    for (let i = page * (PAGE >>> 2); i < end && !used; i++) used = words[i] !== 0;
    for (let i = end << 2; i < Math.min((page + 1) * PAGE, memory.byteLength) && !used; i++) used = memory[i] !== 0;
    if (!used) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === page) last[1]++;
    else runs.push([page, 1]);
  }
  return runs;
}

export function unpack(bytes) {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  const body = bytes.subarray(Math.ceil((4 + length) / 16) * 16);
  if (meta.format !== FORMAT) throw new Error(`snapshot format ${meta.format}, expected ${FORMAT}`);
  const header = body.subarray(0, meta.headerLength);
  const end = meta.files.length ? meta.files[0][1] : body.byteLength;
  const heap = { length: meta.heapLength, header, pages: body.subarray(meta.headerLength, end), runs: meta.heapPages };
  const files = meta.files.map(([path, offset, size]) => [path, body.subarray(offset, offset + size)]);
  return { meta, heap, files };
}

/** Write the snapshot's memory into Pyodide's: its non-zero pages, zeros in between. */
export function writeHeap(target, { length, header, pages, runs }) {
  const size = length - header.byteLength;
  let at = 0; // bytes of `pages` written so far
  let page = 0; // next page to write
  for (const [first, count] of runs) {
    target.fill(0, page * PAGE, first * PAGE);
    const bytes = pages.subarray(at, at + Math.min(count * PAGE, size - first * PAGE));
    target.set(bytes, first * PAGE);
    at += bytes.byteLength;
    page = first + count;
  }
  if (page * PAGE < size) target.fill(0, page * PAGE, size);
}

/** The captured snapshot and the installed files as one buffer (see pack). */
export function packSnapshot(pyodide, captured) {
  return pack(captured.meta, captured.heap, collectFiles(pyodide, captured.meta.sitePackages));
}

/**
 * Pack and store a captured snapshot under cacheKey (python-snapshot-store.js says where and
 * how it is checked). Resolves with the sizes: packed and stored.
 */
export async function storeSnapshot(pyodide, captured, cacheKey) {
  const packed = packSnapshot(pyodide, captured);
  return { raw: packed.byteLength, stored: await storeSnapshotBytes(packed, cacheKey) };
}

// ---------------------------------------------------------------------------------------------
// Restoring

/**
 * The stored snapshot for cacheKey, checked and unpacked, or null if there is none; its
 * timings: the read and the check, ms.
 */
export async function readSnapshot(cacheKey) {
  const stored = await readStoredSnapshot(cacheKey);
  if (!stored) return null;
  return { ...unpack(stored.bytes), timings: stored.timings };
}

export const deleteSnapshot = deleteStoredSnapshot;

/**
 * loadPyodide from a snapshot read by readSnapshot, with numpy's and Pillow's libraries
 * re-linked before Python runs a single line. Throws if anything does not match.
 */
export async function loadFromSnapshot(loadPyodide, options, snapshot, steps = {}) {
  const { meta, heap, files } = snapshot;
  const fileMap = new Map(files);
  const start = performance.now();
  const since = (name, t) => (steps[name] = performance.now() - t);
  // Compile the libraries (in the background threads) while Pyodide starts.
  const compiled = Promise.all(
    meta.libs.map((lib) => {
      const bytes = fileMap.get(lib.name);
      if (!bytes) throw new Error(`snapshot lacks ${lib.name}`);
      return WebAssembly.compile(bytes);
    }),
  );
  compiled.catch(() => {}); // a failure surfaces where it is awaited (or loadPyodide's own)
  // Pyodide's core script defines globalThis._createPyodideModule; wrapping it is the one way
  // in between "heap restored" and "Python runs" (finalizeBootstrap).
  if (typeof globalThis._createPyodideModule !== 'function') await import(`${options.indexURL}pyodide.asm.js`);
  const create = globalThis._createPyodideModule;
  let relinkError = null;
  let heapCopied = null;
  globalThis._createPyodideModule = async (settings) => {
    settings.INITIAL_MEMORY = heap.length; // loadPyodide set the header's length
    const creating = performance.now();
    const M = await create(settings);
    since('core', creating); // Pyodide's own WASM module instantiated
    // The libraries are first needed by the re-link below (restoreSnapshot): their compiles
    // overlap Pyodide's own start, rather than hold it up (20-40 ms on a reload).
    const modules = await compiled;
    since('libs_compiled', start); // from the start of the restore
    const restore = settings.API.restoreSnapshot;
    settings.API.restoreSnapshot = (header) => {
      // Given the header alone, Pyodide's restoreSnapshot checks it and reads its config but
      // copies no memory: that is done once, below, after the re-linking.
      const config = restore(header);
      try {
        const relinking = performance.now();
        relink(M, meta, fileMap, modules);
        since('relink', relinking);
        // Undo what instantiation wrote (data segments, relocations, constructors): the heap
        // is exactly as snapshotted.
        writeHeap(M.HEAPU8, heap);
        heapCopied = performance.now();
      } catch (error) {
        relinkError = error;
        throw error;
      }
      return config;
    };
    return M;
  };
  let pyodide;
  try {
    // loadPyodide sizes the memory by its snapshot's length (INITIAL_MEMORY, set again above).
    pyodide = await loadPyodide({ ...options, _loadSnapshot: heap.header });
  } finally {
    globalThis._createPyodideModule = create;
  }
  if (relinkError) throw relinkError;
  since('bootstrap', heapCopied); // Pyodide's finalizeBootstrap
  Object.assign(pyodide.loadedPackages, meta.loadedPackages);
  return pyodide;
}

function relink(M, meta, fileMap, modules) {
  if (M.wasmTable.length > meta.tableStart) {
    throw new Error(`table already has ${M.wasmTable.length} slots, snapshot starts at ${meta.tableStart}`);
  }
  // The installed files (site-packages), as they were.
  for (const [path, data] of fileMap) {
    M.FS.mkdirTree(path.slice(0, path.lastIndexOf('/')));
    M.FS.writeFile(path, data);
  }
  const byName = M.LDSO.loadedLibsByName;
  const handle = M._calloc(1, 48); // freed implicitly: the heap is copied back afterwards
  meta.libs.forEach((lib, i) => {
    const u32 = M.HEAPU32;
    M.HEAP8[handle + 8] = 1; // "already placed": use the bases below
    u32[(handle + 12) >>> 2] = lib.memoryBase;
    u32[(handle + 16) >>> 2] = lib.memorySize;
    u32[(handle + 20) >>> 2] = lib.tableBase;
    u32[(handle + 24) >>> 2] = lib.tableSize;
    const localScope = lib.global ? null : {};
    const dso = M.newDSO(lib.name, undefined, 'loading');
    dso.refcount = Infinity;
    dso.global = lib.global;
    const flags = { loadAsync: false, nodelete: true, allowUndefined: true, global: lib.global };
    const exports = M.loadWebAssemblyModule(modules[i], flags, lib.name, localScope, handle);
    if (lib.global) M.mergeLibSymbols(exports, lib.name);
    dso.exports = exports;
    const base = lib.name.slice(lib.name.lastIndexOf('/') + 1);
    byName[base] ??= dso; // as Pyodide's loadDynlib does
  });
  M.reportUndefinedSymbols();
  // GOT values as they were (the heap holds copies of them, applied as relocations).
  for (const [symbol, value] of meta.got) {
    M.GOT[symbol] ??= new WebAssembly.Global({ value: 'i32', mutable: true });
    M.GOT[symbol].value = value;
  }
  if (M.wasmTable.length < meta.tableLength) M.wasmTable.grow(meta.tableLength - M.wasmTable.length);
  for (const [slot, id] of meta.table) {
    const current = M.wasmTable.get(slot);
    if (id === null) continue;
    if (id === 'unknown') {
      if (current === null) throw new Error(`table slot ${slot} cannot be restored`);
      continue;
    }
    const f = byName[id[0]]?.exports[id[1]];
    if (typeof f !== 'function') throw new Error(`${id[0]} has no function ${id[1]}`);
    if (current !== f) M.setWasmTableEntry(slot, f);
  }
  M.updateTableMap(meta.tableStart, M.wasmTable.length - meta.tableStart);
  for (const [h, name] of meta.handles) M.LDSO.loadedLibsByHandle[h] = byName[name];
}
