// Run by sitebuild/python_trim.py at build time, in Pyodide under Node on the site's own files:
// 1. browser_flows.py drives every flow of the page's worker (a fake model runner stands in for
//    onnxruntime-web: logits of the right shape, so every stage after the model runs) and lists
//    the modules they imported;
// 2. trim_bundle.py rewrites the standard library zip and the wheels without what was not (and
//    the standard library's sources without docstrings and comments: strip_docs.py; the
//    modules imported before the page is ready compiled to bytecode).
//   node run.mjs CORE_DIR BUNDLE_DIR MODEL_DIR   (prints trim_bundle's JSON report)
// CORE_DIR is the pyodide npm package (its pyodide.mjs/.asm.js run here); BUNDLE_DIR the site's
// Python (lock, stdlib zip, wheels), read and rewritten. The core is not loaded from the site's
// copy: under a package.json with "type": "module" (the repo's, when dist/ is inside it) Node
// would load pyodide.asm.js as an ES module, where its require() does not exist.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [coreDir, bundleDir, modelDir] = process.argv.slice(2);
const here = new URL('.', import.meta.url);
const classes = Object.keys(JSON.parse(readFileSync(`${modelDir}/config.json`, 'utf-8')).id2label).length;
let py;
try {
  const { loadPyodide } = await import(pathToFileURL(`${coreDir}/pyodide.mjs`).href);
  py = await loadPyodide({
    indexURL: `${coreDir}/`,
    lockFileURL: `${bundleDir}/pyodide-lock.json`,
    stdLibURL: `${bundleDir}/python_stdlib.zip`,
    packageCacheDir: `${bundleDir}/`, // where Node's loadPackage reads the wheels
  });
  await py.loadPackage('sceneseg', { messageCallback: () => {} });
} catch (error) {
  process.stderr.write(`Pyodide did not start: ${error.stack}\n`);
  process.exit(1);
}
globalThis.sceneseg_trace_runner = {
  name: 'trace',
  async run(proxy) {
    const buffer = proxy.getBuffer('f32');
    const [, , h, w] = buffer.shape;
    buffer.release();
    const data = new Float32Array(classes * (h / 4) * (w / 4));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 3;
    return { data, dims: [1, classes, h / 4, w / 4] };
  },
};
for (const [from, to] of [[modelDir, '/model'], [bundleDir, '/bundle']]) {
  py.FS.mkdirTree(to);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: from }, to);
}
// What the worker imports before it can take a photo (python-runtime.js's IMPORTS and the
// snapshot's self-check): these standard library modules ship as bytecode (trim_bundle.py).
const startup = py.runPython('import hashlib, io, numpy, PIL.Image, sceneseg.browser, sys\nsorted(sys.modules)').toJs();
try {
  const script = (name) => readFileSync(new URL(name, here), 'utf-8');
  py.runPython(script('browser_flows.py'));
  const modules = await py.globals.get('run_flows')();
  py.runPython(script('strip_docs.py')); // strip_docs(), used by trim_bundle.py
  py.runPython(script('trim_bundle.py'));
  process.stdout.write(py.globals.get('trim')(modules, JSON.stringify(startup)));
} catch (error) {
  process.stderr.write(`${error.message}\n`); // the Python traceback, not Pyodide's minified JS
  process.exit(1);
}
