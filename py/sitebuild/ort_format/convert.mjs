// Converts an ONNX file to onnxruntime's ORT format, graph optimised, with onnxruntime-node
// (the native build of the same onnxruntime version as the site's onnxruntime-web):
//   node convert.mjs IN.onnx OUT.ort
// ort_format.py runs it (with address randomisation off, so that the bytes are the same on
// every build) and says why the site ships the result.
import ort from 'onnxruntime-node';

const [input, output] = process.argv.slice(2);
// 'extended', not 'all': level 3 adds x86-only layouts (NCHWc) that onnxruntime-web's WASM
// cannot run; the browser then applies what is left of its own 'all' at load time.
const session = await ort.InferenceSession.create(input, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'extended',
  optimizedModelFilePath: output, // the .ort suffix selects the ORT format
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
await session.release();
