// The resolution setting (#resolution): what the model sees of a photo (RESOLUTIONS in
// lib/sceneseg.js): square (the default), keep (the photo's shape) or detail (windows).
//
// Precedence: ?resolution= over the stored choice (localStorage) over 'square'. Changing it
// stores it (and rewrites ?resolution= if the URL has one, so a reload keeps it) and re-runs
// the shown photo. Near it, what each mode costs for the shown photo (a 12 MP 4:3 photo before
// any): its windows times the last measured model time of one window (result.timings.model of
// the last square or keep run: one window each).
import { RESOLUTIONS } from '../lib/sceneseg.js';

const KEY = 'sceneseg.resolution';
const NAMES = { square: 'Square', keep: 'Keep shape', detail: 'Detail' };
const BEFORE_ANY = [4032, 3024]; // the cost shown before a photo: a 12 MP 4:3 phone photo

function stored() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; // storage blocked: the setting lasts for this page only
  }
}

/** The mode to use: the URL's, else the stored one, else the default. */
export function resolutionPreference(search = location.search) {
  const asked = new URLSearchParams(search).get('resolution');
  if (RESOLUTIONS.includes(asked)) return asked;
  const saved = stored();
  return RESOLUTIONS.includes(saved) ? saved : RESOLUTIONS[0];
}

/**
 * @param {{select: HTMLSelectElement, cost: HTMLOutputElement, segmenter, onChange: (mode: string) => void}} parts
 * @returns {{mode: () => string, measured: (result) => void}}  measured(result): a result came
 *   (its size becomes the one costed, its model time the one per window)
 */
export function mountResolutionSetting({ select, cost, segmenter, onChange }) {
  select.value = resolutionPreference();
  let size = BEFORE_ANY;
  let plans = null; // {square, keep, detail} for `size`
  let windowMs = null; // the model's time for one window, last measured

  select.addEventListener('change', () => {
    try {
      localStorage.setItem(KEY, select.value);
    } catch {
      // not stored: this page keeps it
    }
    const url = new URL(location.href);
    if (url.searchParams.has('resolution')) {
      url.searchParams.set('resolution', select.value);
      history.replaceState(history.state, '', url);
    }
    render();
    onChange(select.value);
  });

  function askPlan() {
    const [width, height] = size;
    segmenter.resolutionPlan(width, height).then(
      (value) => {
        if (size[0] !== width || size[1] !== height) return; // a newer photo's size is asked for
        plans = value;
        render();
      },
      () => {}, // no engine: no costs to show (the page says why elsewhere)
    );
  }

  const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  function render() {
    for (const option of select.options) {
      const mode = option.value;
      const plan = plans?.[mode];
      const name = mode === 'square' && plan ? `${NAMES[mode]} ${plan.input[0]}²` : NAMES[mode];
      if (!plan) option.textContent = name;
      else if (windowMs === null) option.textContent = `${name} (${plan.windows} window${plan.windows > 1 ? 's' : ''})`;
      else option.textContent = `${name} (≈ ${plan.windows} × ${seconds(windowMs)})`;
    }
    const plan = plans?.[select.value];
    const photo = size === BEFORE_ANY ? '12 MP photo' : `${size[0]}×${size[1]}`;
    // The chosen mode's input (each mode's cost is in its option's text).
    cost.textContent = !plan ? '\u00a0' : `${photo} → ${plan.input[0]}×${plan.input[1]}` + (plan.windows > 1 ? `, ${plan.windows} windows` : '');
    cost.dataset.plans = plans ? JSON.stringify(plans) : '';
    cost.dataset.windowMs = windowMs === null ? '' : String(Math.round(windowMs));
  }

  render();
  askPlan();

  return {
    mode: () => select.value,
    measured(result) {
      const { resolution, timings } = result;
      cost.dataset.shown = JSON.stringify(resolution ?? null); // what the shown result ran: for tests
      // A square or keep run is one window; a detail run's mean window stands in until one comes.
      if (resolution && timings?.model !== undefined) {
        if (resolution.mode !== 'detail') windowMs = timings.model;
        else if (windowMs === null) windowMs = timings.model / resolution.windows;
      }
      const same = size !== BEFORE_ANY && size[0] === result.width && size[1] === result.height;
      if (!same) {
        size = [result.width, result.height];
        plans = null;
        askPlan();
      }
      render();
    },
  };
}
