// Run by sitebuild/python_trim.py at build time, in Pyodide under Node on the site's own files:
// 1. browser_flows.py drives every flow of the page's worker (a fake model runner stands in for
//    onnxruntime-web: logits of the right shape, so every stage after the model runs) and lists
//    the modules they imported;
// 2. trim_bundle.py rewrites the standard library zip and the wheels without what was not.
//   node run.mjs PYODIDE_DIR MODEL_DIR   (prints trim_bundle's JSON report)
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [pyodideDir, modelDir] = process.argv.slice(2);
const here = new URL('.', import.meta.url);
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
const classes = Object.keys(JSON.parse(readFileSync(`${modelDir}/config.json`, 'utf-8')).id2label).length;
const py = await loadPyodide({ indexURL: `${pyodideDir}/` });
await py.loadPackage('sceneseg', { messageCallback: () => {} });
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
for (const [from, to] of [[modelDir, '/model'], [pyodideDir, '/bundle']]) {
  py.FS.mkdirTree(to);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: from }, to);
}
try {
  const script = (name) => readFileSync(new URL(name, here), 'utf-8');
  py.runPython(script('browser_flows.py'));
  const modules = await py.globals.get('run_flows')();
  py.runPython(script('trim_bundle.py'));
  process.stdout.write(py.globals.get('trim')(modules));
} catch (error) {
  process.stderr.write(`${error.message}\n`); // the Python traceback, not Pyodide's minified JS
  process.exit(1);
}
