// One Python start in Pyodide under Node, as the worker does it, timed in wall and CPU time
// (CPU time is far less disturbed by a loaded machine). Used by bench/python_startup.py.
//   node bench/python_startup.mjs normal WHEEL_DIR              loadPyodide + loadPackage + imports
//   node bench/python_startup.mjs make WHEEL_DIR SNAPSHOT.gz    the same, then write a snapshot
//   node bench/python_startup.mjs restore WHEEL_DIR SNAPSHOT.gz gunzip + restore + imports
// Prints one JSON line: {wall, cpu} in ms.
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from '../node_modules/pyodide/pyodide.mjs';
import * as snapshots from '../web/worker/python-snapshot.js';

const [way, wheelDir, snapshotFile] = process.argv.slice(2);
const indexURL = fileURLToPath(new URL('../node_modules/pyodide/', import.meta.url));
const options = { indexURL, lockFileURL: `${wheelDir}/pyodide-lock.json`, packageCacheDir: wheelDir };
const IMPORTS = 'import numpy, PIL.Image, sceneseg.browser';

const cpu0 = process.cpuUsage();
const wall0 = performance.now();
if (way === 'restore') {
  await import('../node_modules/pyodide/pyodide.asm.js');
  const gz = readFileSync(snapshotFile);
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'));
  const stored = snapshots.unpack(new Uint8Array(await new Response(stream).arrayBuffer()));
  const pyodide = await snapshots.loadFromSnapshot(loadPyodide, options, stored);
  pyodide.runPython(IMPORTS);
} else {
  const pyodide = await loadPyodide({ ...options, _makeSnapshot: way === 'make' });
  const recorder = way === 'make' ? snapshots.recordDynlibs(pyodide) : null;
  await pyodide.loadPackage('sceneseg', { messageCallback: () => {} });
  pyodide.runPython(IMPORTS);
  if (recorder) {
    const packed = snapshots.packSnapshot(pyodide, snapshots.captureSnapshot(pyodide, recorder));
    writeFileSync(snapshotFile, gzipSync(packed));
  }
}
const wall = performance.now() - wall0;
const { user, system } = process.cpuUsage(cpu0);
console.log(JSON.stringify({ wall, cpu: (user + system) / 1000 }));
