// onnxruntime-web session, wrapped as the runner that Python's OnnxRuntimeWebBackend calls.
import * as ort from '../vendor/onnxruntime-web/ort.wasm.min.mjs';

const ORT_DIR = new URL('../vendor/onnxruntime-web/', import.meta.url).href;

/**
 * @param {Uint8Array} modelBytes  verified ONNX file
 * @param {string} precision       'q8' | 'fp16' | 'fp32', for display
 */
export async function createModelRunner(modelBytes, precision) {
  // By URL, not as bytes: compiled while it streams in, and from V8's code cache on return
  // visits (bytes handed over as wasmBinary are compiled afresh every time). The worker has
  // verified the file (or the service worker did, when it cached it).
  ort.env.wasm.wasmPaths = ORT_DIR;
  // Threads need a cross-origin isolated page (COOP + COEP); otherwise one thread, no warning.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.wasm.proxy = false; // we already are a worker
  const session = await ort.InferenceSession.create(modelBytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  const threads = ort.env.wasm.numThreads;
  return {
    name: `wasm (${precision}, ${threads} thread${threads > 1 ? 's' : ''})`,
    threads,
    /**
     * Called from Python with a PyProxy of a float32 numpy array [1, 3, H, W].
     * getBuffer() gives a view into Pyodide's memory (no copy); onnxruntime copies it once.
     */
    async run(pixelsProxy) {
      const buffer = pixelsProxy.getBuffer('f32');
      try {
        const input = new ort.Tensor('float32', buffer.data, buffer.shape);
        const outputs = await session.run({ [inputName]: input });
        const logits = outputs[outputName];
        return { data: logits.data, dims: logits.dims };
      } finally {
        buffer.release();
      }
    },
    release: () => session.release(),
  };
}
