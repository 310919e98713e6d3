// Times onnxruntime-web (WASM backend) session.run on the same input for several model files,
// alternating between them so that all see the same machine load. Settings as the app's
// web/worker/model-runner.js (graphOptimizationLevel 'all', threads when cross-origin isolated).
import * as ort from './ort/ort.wasm.min.mjs';

ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * @param {{models: Record<string, string>, input: string, dims: number[], repeat: number, threads: number}} cfg
 * @returns {Promise<{threads: number, isolated: boolean, create_ms: Record<string, number>, first_ms: Record<string, number>, runs_ms: Record<string, number[]>}>}
 */
window.bench = async ({ models, input, dims, repeat, threads }) => {
  ort.env.wasm.numThreads = self.crossOriginIsolated ? threads : 1;
  const data = new Float32Array((await fetchBytes(input)).buffer);
  const sessions = {};
  const createMs = {};
  const firstMs = {};
  const runs = {};
  for (const [name, url] of Object.entries(models)) {
    const bytes = await fetchBytes(url);
    const start = performance.now();
    sessions[name] = await ort.InferenceSession.create(bytes, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
    createMs[name] = performance.now() - start;
  }
  const feeds = (session) => ({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
  for (const [name, session] of Object.entries(sessions)) {
    // The first run sets up kernels and memory: reported apart, not in the median.
    const start = performance.now();
    await session.run(feeds(session));
    firstMs[name] = performance.now() - start;
    runs[name] = [];
  }
  for (let r = 0; r < repeat; r++) {
    for (const [name, session] of Object.entries(sessions)) {
      const start = performance.now();
      const out = await session.run(feeds(session));
      runs[name].push(performance.now() - start);
      for (const tensor of Object.values(out)) tensor.dispose?.();
    }
  }
  for (const session of Object.values(sessions)) await session.release();
  return {
    threads: ort.env.wasm.numThreads,
    isolated: self.crossOriginIsolated,
    create_ms: createMs,
    first_ms: firstMs,
    runs_ms: runs,
  };
};
document.body.textContent = 'ready';
document.body.dataset.ready = 'true';
