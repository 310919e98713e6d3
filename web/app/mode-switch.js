// Photo / Video / Batch: one tab list switches which part of the page is shown. The photo
// mode is the page's own controls and result; video and batch are their own sections.
const PHOTO_PARTS = 'main > section.inputs, main > div.workspace';

/** @param {(mode: string) => void} [onChange] */
export function setupModes(onChange = () => {}) {
  const tabs = [...document.querySelectorAll('#modes [data-mode]')];
  const select = (mode) => {
    for (const tab of tabs) {
      tab.setAttribute('aria-selected', String(tab.dataset.mode === mode));
      tab.tabIndex = tab.dataset.mode === mode ? 0 : -1; // one Tab stop; arrows move between tabs
    }
    for (const part of document.querySelectorAll(PHOTO_PARTS)) part.hidden = mode !== 'photo';
    document.getElementById('video').hidden = mode !== 'video';
    document.getElementById('batch').hidden = mode !== 'batch';
    document.body.dataset.mode = mode;
    onChange(mode);
  };
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener('click', () => select(tab.dataset.mode));
    tab.addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      select(next.dataset.mode);
    });
  }
  select('photo');
  return select;
}
