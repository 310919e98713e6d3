// The backend choice (web/worker/backend-choice.js) on made-up adapters and builds: prints
// [[situation, override, shipped files, choice], ...] as JSON for tests/test_webgpu.py.
import { chooseBackend, describeAdapter, fallbackChoice } from '../web/worker/backend-choice.js';
const adapter = (info, features = [], old = {}) => ({ info, features: new Set(features), ...old });
const gpu = { vendor: 'nvidia', architecture: 'hopper', isFallbackAdapter: false };
const probes = {
  'no navigator.gpu': { gpu: false, adapter: null },
  'no adapter': { gpu: true, adapter: null },
  'adapter request throws': { gpu: true, adapter: null, error: 'boom' },
  'fallback adapter (info)': { gpu: true, adapter: describeAdapter(adapter({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true })) },
  'fallback adapter (old API)': { gpu: true, adapter: describeAdapter(adapter({ vendor: 'x' }, [], { isFallbackAdapter: true })) },
  'SwiftShader named only': { gpu: true, adapter: describeAdapter(adapter({ vendor: 'google', architecture: 'swiftshader' })) },
  'GPU with shader-f16': { gpu: true, adapter: describeAdapter(adapter(gpu, ['shader-f16'])) },
  'GPU without shader-f16': { gpu: true, adapter: describeAdapter(adapter(gpu)) },
};
const all = ['q8', 'fp16', 'fp32'];
const cases = [];
for (const [name, probe] of Object.entries(probes)) {
  for (const [label, override] of [['auto', {}], ['webgpu', { backend: 'webgpu' }], ['wasm', { backend: 'wasm' }]]) {
    cases.push([name, label, 'q8,fp16,fp32', chooseBackend({ probe, precisions: all, webgpuShipped: true, override })]);
  }
}
const f16 = probes['GPU with shader-f16'];
const extra = [
  ['GPU with shader-f16', 'auto', 'q8,fp32', { probe: f16, precisions: ['q8', 'fp32'], webgpuShipped: true }],
  ['GPU with shader-f16', 'auto', 'q8 (no WebGPU runtime)', { probe: f16, precisions: ['q8'], webgpuShipped: false }],
  ['GPU with shader-f16', 'precision=q8', 'q8,fp16,fp32', { probe: f16, precisions: all, webgpuShipped: true, override: { precision: 'q8' } }],
  ['GPU without shader-f16', 'webgpu+fp16', 'q8,fp16,fp32', { probe: probes['GPU without shader-f16'], precisions: all, webgpuShipped: true, override: { backend: 'webgpu', precision: 'fp16' } }],
];
for (const [name, label, files, args] of extra) cases.push([name, label, files, chooseBackend(args)]);
cases.push(['after a WebGPU failure', '-', 'q8,fp16,fp32', fallbackChoice(all, 'x')]);
cases.push(['after a WebGPU failure', '-', 'fp16,fp32', fallbackChoice(['fp16', 'fp32'], 'x')]);
console.log(JSON.stringify(cases));
