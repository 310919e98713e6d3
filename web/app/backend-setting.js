// The backend setting (automatic / WebGPU / WASM) and the line that says what runs and why.
//
// Precedence: the URL (?backend=webgpu|wasm&precision=q8|fp16|fp32) over the stored setting
// over the automatic choice (web/worker/backend-choice.js). ?webgpu-fail=adapter|session|run|lost
// makes the WebGPU path fail on purpose, for tests of the fallback: it can only ever move
// the page to WASM.

const KEY = 'sceneseg.backend';
const LABELS = { auto: 'Automatic', webgpu: 'WebGPU', wasm: 'WASM (CPU)' };
const NAMES = { webgpu: 'WebGPU', wasm: 'WASM' };

function stored() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; // storage blocked (e.g. some iframes): the setting lasts for this page only
  }
}

/** {backend?, precision?, webgpuFail?} for createSegmenter. */
export function backendPreference(search = location.search) {
  const params = new URLSearchParams(search);
  const pick = (value, allowed) => (allowed.includes(value) ? value : undefined);
  return {
    backend: pick(params.get('backend') ?? stored(), ['webgpu', 'wasm']),
    precision: pick(params.get('precision'), ['q8', 'fp16', 'fp32']),
    webgpuFail: pick(params.get('webgpu-fail'), ['adapter', 'session', 'run', 'lost']),
  };
}

/**
 * Put the setting (a <select>) into `controls` and the choice line after `after`.
 * Changing the setting stores it and reloads the page: the worker picks its backend at start.
 * @returns {(choice: {backend, precision, file, reason}, notice?: string) => void}  shows a choice
 */
export function mountBackendSetting(controls, after) {
  const label = document.createElement('label');
  label.className = 'backend-setting';
  label.textContent = 'Backend ';
  const select = document.createElement('select');
  select.id = 'backend-setting';
  for (const [value, text] of Object.entries(LABELS)) select.add(new Option(text, value));
  select.value = backendPreference().backend ?? 'auto';
  label.append(select);
  controls.append(label);
  select.addEventListener('change', () => {
    try {
      if (select.value === 'auto') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, select.value);
    } catch {
      // not stored; the URL below still carries it
    }
    const url = new URL(location.href);
    if (select.value === 'auto') url.searchParams.delete('backend');
    else url.searchParams.set('backend', select.value);
    location.assign(url);
  });

  const line = document.createElement('p');
  line.id = 'backend-choice';
  line.className = 'engine';
  after.after(line);
  return (choice, notice) => {
    const text = `${NAMES[choice.backend]} · ${choice.precision} file (${choice.file}) · ${choice.reason}`;
    line.textContent = notice ? `${notice} Now: ${text}` : text;
    line.dataset.backend = choice.backend;
    line.dataset.precision = choice.precision;
  };
}
