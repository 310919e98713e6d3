// Decode images exactly as the browser app does (sceneseg.processing.decode on Pyodide's
// Pillow 10.2 / libjpeg 9), in Node, for tests that need the browser's decoded pixels.
//   node tests/pyodide_decode.mjs WHEEL_DIR OUT_DIR IMAGE...
// Writes OUT_DIR/<i>.rgb (raw RGB) and prints [[height, width], ...] as JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from '../node_modules/pyodide/pyodide.mjs';

const [wheelDir, outDir, ...images] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const pyodide = await loadPyodide({ indexURL: `${root}node_modules/pyodide/` });
const lock = JSON.parse(readFileSync(`${root}node_modules/pyodide/pyodide-lock.json`));
await pyodide.loadPackage(['numpy', 'pillow'].map((n) => `${wheelDir}/${lock.packages[n].file_name}`), {
  messageCallback: () => {},
});
pyodide.FS.mkdirTree('/src');
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: `${root}py` }, '/src');
pyodide.runPython("import sys; sys.path.insert(0, '/src')");
const decode = pyodide.runPython(`
import numpy as np
from sceneseg.processing import decode
def decode_rgb(data):
    pixels = np.asarray(decode(data.to_bytes()))
    return pixels.shape[:2], pixels.tobytes()
decode_rgb`);
const shapes = images.map((path, i) => {
  const [shape, pixels] = decode(new Uint8Array(readFileSync(path))).toJs();
  writeFileSync(`${outDir}/${i}.rgb`, pixels);
  return shape;
});
console.log(JSON.stringify(shapes));
