// Run Python in Pyodide under Node, with numpy, Pillow and sceneseg (from py/): the browser
// app's own runtime and wheels, for tests that need Pyodide's results (wasm32: 32-bit intp,
// IJG libjpeg 9 in Pillow) without a browser.
//   node tests/pyodide_run.mjs WHEEL_DIR [ARG...] < script.py
// The host's filesystem is mounted at /host; the script sees sys.argv == ['-', ARG...], with
// each ARG that is an absolute path replaced by its real path: NODEFS resolves an
// absolute symbolic link inside Pyodide's own tree (/x, not /host/x), so it cannot follow one.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from '../node_modules/pyodide/pyodide.mjs';

const [wheelDir, ...given] = process.argv.slice(2);
const real = (path) =>
  existsSync(path) ? realpathSync(path) : join(real(dirname(path)), basename(path));
const args = given.map((a) => (a.startsWith('/') ? real(a) : a));
const root = realpathSync(fileURLToPath(new URL('..', import.meta.url))) + '/';
const pyodide = await loadPyodide({ indexURL: `${root}node_modules/pyodide/`, args: ['-', ...args] });
const lock = JSON.parse(readFileSync(`${root}node_modules/pyodide/pyodide-lock.json`));
await pyodide.loadPackage(['numpy', 'pillow'].map((n) => `${wheelDir}/${lock.packages[n].file_name}`), {
  messageCallback: () => {},
});
for (const [from, to] of [[`${root}py`, '/src'], ['/', '/host']]) {
  pyodide.FS.mkdirTree(to);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: from }, to);
}
pyodide.runPython("import sys; sys.path.insert(0, '/src')");
try {
  await pyodide.runPythonAsync(readFileSync(0, 'utf-8'));
} catch (error) {
  // A Python exception: its traceback alone, not Node's dump of minified Pyodide source.
  if (!(error instanceof pyodide.ffi.PythonError)) throw error;
  process.stderr.write(error.message);
  process.exit(1);
}
