// Which onnxruntime-web backend and which model file: WebGPU on a real GPU, WASM otherwise.
//
// chooseBackend() is pure (tested under Node with made-up adapters); probeWebGPU() asks the
// browser. The table (design.md, issue 7):
//
//   no navigator.gpu / no adapter / adapter request fails      -> wasm, 8-bit (q8)
//   adapter is a software fallback (isFallbackAdapter, SwiftShader) -> wasm, q8
//   hardware adapter with 'shader-f16'                          -> webgpu, fp16
//   hardware adapter without 'shader-f16'                       -> webgpu, fp32
//   (the 8-bit file's integer ops have no WebGPU kernels; they would run on the CPU)
//
// An override ({backend, precision} from the URL or the page's setting) wins where the
// device and the build allow it; otherwise the reason says why it could not be followed.

export const BACKENDS = ['webgpu', 'wasm'];
export const WEBGPU_PRECISIONS = ['fp16', 'fp32'];

/**
 * @typedef {{gpu: boolean, adapter: null | {fallback: boolean, f16: boolean, name: string}, error?: string}} Probe
 * @typedef {{backend: 'webgpu'|'wasm', precision: string, reason: string}} Choice
 *
 * @param {object} args
 * @param {Probe} args.probe               what the browser offers (probeWebGPU's summary)
 * @param {string[]} args.precisions       model files this build ships, the default first
 * @param {boolean} args.webgpuShipped     whether this build ships the WebGPU runtime
 * @param {{backend?: string, precision?: string}} [args.override]
 * @returns {Choice}
 */
export function chooseBackend({ probe, precisions, webgpuShipped, override = {} }) {
  const wanted = BACKENDS.includes(override.backend) ? override.backend : 'auto';
  const askedPrecision = precisions.includes(override.precision) ? override.precision : undefined;
  const by = wanted === 'auto' ? '' : ' (as asked)';

  if (wanted === 'wasm') return wasmChoice(precisions, askedPrecision, 'WASM chosen in the settings or URL');

  // Can WebGPU run here at all?
  let unusable = null;
  if (!webgpuShipped) unusable = 'this build ships no WebGPU runtime';
  else if (!probe.gpu) unusable = 'this browser has no WebGPU';
  else if (probe.error) unusable = `the WebGPU adapter request failed (${probe.error})`;
  else if (!probe.adapter) unusable = 'no WebGPU adapter is available';
  else if (!precisions.some((p) => WEBGPU_PRECISIONS.includes(p))) unusable = 'this build ships no fp16 or fp32 file for WebGPU';
  if (unusable) return wasmChoice(precisions, askedPrecision, unusable);

  const { adapter } = probe;
  if (wanted === 'auto' && adapter.fallback) {
    return wasmChoice(precisions, askedPrecision, `the WebGPU adapter (${adapter.name}) is a software fallback, slower than WASM`);
  }
  // A precision asked for explicitly: q8 has no WebGPU kernels, fp16 needs shader-f16.
  if (askedPrecision === 'q8' || (askedPrecision === 'fp16' && !adapter.f16)) {
    const why = askedPrecision === 'q8' ? 'the 8-bit file has no WebGPU kernels' : `the adapter (${adapter.name}) has no shader-f16`;
    if (wanted === 'auto') return wasmChoice(precisions, askedPrecision, `${askedPrecision} asked for, and ${why}`);
    const precision = precisions.includes('fp32') ? 'fp32' : null;
    if (!precision) return wasmChoice(precisions, askedPrecision, `WebGPU asked for, but ${why} and this build has no fp32 file`);
    return { backend: 'webgpu', precision, reason: `WebGPU as asked; fp32 because ${why}` };
  }
  if (askedPrecision) {
    return { backend: 'webgpu', precision: askedPrecision, reason: `WebGPU on ${adapter.name}${by}; ${askedPrecision} as asked` };
  }
  if (adapter.f16 && precisions.includes('fp16')) {
    return { backend: 'webgpu', precision: 'fp16', reason: `WebGPU on ${adapter.name}${by}; it has shader-f16` };
  }
  const precision = precisions.includes('fp32') ? 'fp32' : 'fp16';
  const why = adapter.f16 ? 'this build has no fp16 file' : 'it has no shader-f16';
  if (precision === 'fp16' && !adapter.f16) {
    return wasmChoice(precisions, undefined, `the adapter (${adapter.name}) has no shader-f16 and this build has no fp32 file`);
  }
  return { backend: 'webgpu', precision, reason: `WebGPU on ${adapter.name}${by}; ${precision} because ${why}` };
}

/** WASM with the file asked for, else the build's default (the first listed: q8 normally). */
function wasmChoice(precisions, asked, reason) {
  const precision = asked ?? precisions[0];
  return { backend: 'wasm', precision, reason };
}

/** After WebGPU failed: WASM with the 8-bit file if shipped, else fp32, else the default. */
export function fallbackChoice(precisions, reason) {
  const precision = ['q8', 'fp32'].find((p) => precisions.includes(p)) ?? precisions[0];
  return { backend: 'wasm', precision, reason };
}

/**
 * Ask the browser for a WebGPU adapter.
 * @param {GPU|undefined} gpu   navigator.gpu
 * @param {{fail?: string}} [test]  fail: 'adapter' makes the request throw (tests only)
 * @returns {Promise<{summary: Probe, adapter: GPUAdapter|null}>}
 */
export async function probeWebGPU(gpu, test = {}) {
  if (!gpu) return { summary: { gpu: false, adapter: null }, adapter: null };
  let adapter;
  try {
    if (test.fail === 'adapter') throw new Error('forced adapter failure (webgpu-fail=adapter)');
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { summary: { gpu: true, adapter: null, error: error.message }, adapter: null };
  }
  if (!adapter) return { summary: { gpu: true, adapter: null }, adapter: null };
  return { summary: { gpu: true, adapter: describeAdapter(adapter) }, adapter };
}

/** The adapter facts the choice needs, from either the current or the older WebGPU API. */
export function describeAdapter(adapter) {
  const info = adapter.info ?? {};
  const words = [info.vendor, info.architecture, info.device, info.description].filter(Boolean);
  const software = /swiftshader|llvmpipe|lavapipe|software|warp/i.test(words.join(' '));
  return {
    fallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || software,
    f16: adapter.features.has('shader-f16'),
    name: words.join(' ') || 'unknown GPU',
  };
}
