// onnxruntime-web session, wrapped as the runner that Python's OnnxRuntimeWebBackend calls.
import * as ort from '../vendor/onnxruntime-web/ort.wasm.min.mjs';

const ORT_DIR = new URL('../vendor/onnxruntime-web/', import.meta.url).href;

/**
 * @param {Uint8Array} modelBytes  verified ONNX file
 * @param {string} precision       'q8' | 'fp16' | 'fp32', for display
 * @param {Uint8Array} wasmBinary  verified onnxruntime-web WASM binary
 */
export async function createModelRunner(modelBytes, precision, wasmBinary) {
  ort.env.wasm.wasmPaths = ORT_DIR;
  ort.env.wasm.wasmBinary = wasmBinary;
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
