// The shown photo's files out: the label map (#download-labels) and the export buttons
// ([data-export]). Each file is encoded in the worker when it is clicked, never before (the
// label map with the threshold set at that moment), and saved under lib/sceneseg.js's
// exportName().
import { exportName } from '../lib/sceneseg.js';
import { saveBlob } from './downloads.js';

/**
 * @param {object} photo  view, the view's state (photo-view.js: threshold, isolated, selected);
 *   shown(), the result on screen or null (its result.export() makes the files);
 *   showError(message)
 */
export function createPhotoDownloads({ view, shown, showError }) {
  const labelsLink = document.getElementById('download-labels');
  const exportButtons = [...document.querySelectorAll('[data-export]')];

  let off = false; // disable()d until enable()

  /** A new result is on screen: the label map link and the buttons follow it. */
  function enable() {
    off = false;
    labelsLink.setAttribute('aria-disabled', 'false');
    updateButtons();
  }

  /** A new photo is running: the shown result (a preview now) has no files to give. */
  function disable() {
    off = true;
    labelsLink.setAttribute('aria-disabled', 'true');
    updateButtons();
  }

  /** Which export buttons work now (the confidence PNG once the map is there). */
  function updateButtons() {
    for (const button of exportButtons) {
      const kind = button.dataset.export;
      button.disabled = off || !shown() || (kind === 'confidence-png' && !shown().confidence);
    }
    updateMaskButton();
  }

  /** The mask button names the selected (or isolated) class. */
  function updateMaskButton() {
    const button = document.getElementById('download-mask');
    const cls = shown()?.classes.find((c) => c.id === (view.isolated ?? view.selected));
    button.textContent = cls ? `Mask: ${cls.name}` : 'Selected class';
    button.disabled = off || !cls;
  }

  /** Encode `kind` of the shown result now (in the worker) and save it. */
  async function save(control, kind) {
    const photo = shown();
    if (!photo || control.getAttribute('aria-busy') === 'true') return;
    const classId = view.isolated ?? view.selected;
    const options = { threshold: view.threshold, ...(kind === 'mask-png' && { classId }), ...(kind === 'summary-json' && { name: photo.file.name }) };
    const cls = photo.classes.find((c) => c.id === classId);
    control.setAttribute('aria-busy', 'true');
    try {
      // This result's file: a newer photo's result in the worker is refused, never saved
      // under this photo's name.
      const blob = await photo.result.export(kind, options);
      saveBlob(blob, exportName(photo.file.name, kind, kind === 'mask-png' ? cls?.name : undefined));
    } catch (error) {
      showError(`Could not prepare the download: ${error.message}`);
    } finally {
      control.removeAttribute('aria-busy');
    }
  }

  // The label map: a link-styled button with no href (nothing is made before the click).
  labelsLink.tabIndex = 0;
  labelsLink.addEventListener('click', (event) => {
    event.preventDefault();
    if (labelsLink.getAttribute('aria-disabled') !== 'true') save(labelsLink, 'labels-png');
  });
  labelsLink.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    event.preventDefault();
    labelsLink.click();
  });
  for (const button of exportButtons) button.addEventListener('click', () => save(button, button.dataset.export));

  return { enable, disable, updateButtons, updateMaskButton };
}
