// The engine starts here, as early as the page can: index.html loads this module `async` from
// its <head>, so the worker (and with it Python's restore and the model session) starts while
// the rest of the page's modules are still loading; main.js, which imports the same instance,
// takes it from there. (Measured on a reload: the worker was created ~190-280 ms after
// navigation when main.js created it, after its whole module graph.)
import { createSegmenter } from '../lib/sceneseg.js';
import { backendPreference } from './backend-setting.js';

// build-info.json, read once per page, while the worker starts: its text goes to the worker in
// 'init' (it keys Python's start-up snapshot), the parsed object to the model picker and the
// model file's line (main.js).
export const buildInfoText = fetch('build-info.json').then((r) =>
  r.ok ? r.text() : Promise.reject(new Error(`build-info.json: HTTP ${r.status}`)),
);
buildInfoText.catch(() => {}); // the worker then fetches it and says what failed

// Start-up progress may come before main.js listens: kept until it does.
let listener = null;
const early = [];

/** Start-up progress from now on, and any that came before. */
export function onEngineProgress(callback) {
  listener = callback;
  for (const p of early.splice(0)) callback(p);
}

const params = new URLSearchParams(location.search);
// Backend and model file: automatic, or as the URL / the setting say (backend-setting.js).
export const segmenter = createSegmenter({
  ...backendPreference(),
  model: params.get('model') || undefined, // a model id of this build (README: variants)
  snapshot: params.get('snapshot') !== '0', // ?snapshot=0: Python starts afresh
  buildInfo: buildInfoText,
  onProgress: (p) => (listener ? listener(p) : early.push(p)),
});
