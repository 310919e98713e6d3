// The shown photo's files out: the label map link (#download-labels, kept up to date with the
// threshold) and the export buttons ([data-export]: encoded in the worker, saved under
// lib/sceneseg.js's exportName()).
import { exportName } from '../lib/sceneseg.js';
import { saveBlob } from './downloads.js';

/**
 * @param {object} photo  segmenter (lib/sceneseg.js); view, the view's state (photo-view.js:
 *   threshold, isolated, selected); shown(), the result on screen or null; showError(message)
 */
export function createPhotoDownloads({ segmenter, view, shown, showError }) {
  let labelsUrl = null;
  const exportButtons = [...document.querySelectorAll('[data-export]')];

  /** A new result is on screen: the label map link and the buttons follow it. */
  function enable() {
    prepareLabelsDownload();
    updateButtons();
  }

  /** Which export buttons work now (the confidence PNG once the map is there). */
  function updateButtons() {
    const canExport = typeof segmenter.export === 'function';
    for (const button of exportButtons) {
      const kind = button.dataset.export;
      button.disabled = !canExport || (kind === 'confidence-png' && !shown().confidence);
    }
    updateMaskButton();
  }

  /** The mask button names the selected (or isolated) class. */
  function updateMaskButton() {
    const button = document.getElementById('download-mask');
    const cls = shown()?.classes.find((c) => c.id === (view.isolated ?? view.selected));
    button.textContent = cls ? `Mask: ${cls.name}` : 'Selected class';
    button.disabled = !cls || typeof segmenter.export !== 'function';
  }

  /** The label map link, re-encoded for the current threshold (in the worker). */
  async function prepareLabelsDownload() {
    if (!shown()) return;
    const { labels, file } = shown();
    setLabelsLink(null);
    const threshold = view.threshold;
    let blob;
    try {
      blob = typeof segmenter.export === 'function' ? await segmenter.export('labels-png', { threshold }) : await shown().labelsPng;
    } catch {
      return;
    }
    if (shown()?.labels === labels && view.threshold === threshold) setLabelsLink(blob, exportName(file.name, 'labels-png'));
  }

  function setLabelsLink(blob, name) {
    const link = document.getElementById('download-labels');
    if (labelsUrl) URL.revokeObjectURL(labelsUrl);
    labelsUrl = blob ? URL.createObjectURL(blob) : null;
    if (labelsUrl) {
      link.href = labelsUrl;
      link.download = name;
    } else {
      link.removeAttribute('href');
    }
    link.setAttribute('aria-disabled', String(!blob));
  }

  for (const button of exportButtons) {
    button.addEventListener('click', async () => {
      if (!shown()) return;
      const kind = button.dataset.export;
      const classId = view.isolated ?? view.selected;
      const options = { threshold: view.threshold, ...(kind === 'mask-png' ? { classId } : {}) };
      const cls = shown().classes.find((c) => c.id === classId);
      button.setAttribute('aria-busy', 'true');
      try {
        const blob = await segmenter.export(kind, options);
        saveBlob(blob, exportName(shown().file.name, kind, kind === 'mask-png' ? cls?.name : undefined));
      } catch (error) {
        showError(`Could not prepare the download: ${error.message}`);
      } finally {
        button.removeAttribute('aria-busy');
      }
    });
  }

  return { enable, updateButtons, updateMaskButton, prepareLabelsDownload };
}
