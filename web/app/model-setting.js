// The model picker: which of this build's models (build-info.json "models") the page uses,
// with each one's download size, and a warning before a large one. Picking reloads the page
// with ?model=ID (the worker loads one model at start-up).

const LARGE_BYTES = 50e6; // a download a visitor on a phone plan should be warned about

/**
 * @param {HTMLElement} container  where the setting goes (the Details panel)
 * @param {string} current  the model id in use
 * @param {object} build  build-info.json, parsed (main.js reads it once per page)
 */
export function mountModelSetting(container, current, build) {
  const models = Object.values(build.models ?? {});
  if (models.length < 2) return; // nothing to choose
  const label = document.createElement('label');
  label.className = 'model-setting';
  label.textContent = 'Model ';
  const select = document.createElement('select');
  select.id = 'model-setting';
  for (const model of models) {
    const bytes = model.download_size?.[model.default_precision] ?? 0;
    const size = `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;
    const option = new Option(`${model.name} (${size}${bytes > LARGE_BYTES ? ', large download' : ''})`, model.id);
    option.dataset.bytes = String(bytes);
    select.add(option);
  }
  select.value = current;
  const note = document.createElement('p');
  note.className = 'muted small';
  note.id = 'model-note';
  label.append(select);
  container.append(label, note);
  select.addEventListener('change', () => {
    const bytes = Number(select.selectedOptions[0].dataset.bytes);
    if (bytes > LARGE_BYTES) {
      const ok = confirm(
        `${select.selectedOptions[0].text}: this downloads ${(bytes / 1e6).toFixed(0)} MB once (then it is stored on this device). Continue?`,
      );
      if (!ok) {
        select.value = current;
        return;
      }
    }
    const url = new URL(location.href);
    url.searchParams.set('model', select.value);
    location.assign(url);
  });
}
