// Sharing a result out (issue 19), where the browser can share files (navigator.canShare with
// files: Chrome on Android, Safari on iOS and macOS, Edge and Chrome on Windows): #share-picture
// sends the picture as shown (the photo under its overlay, as on screen) to the system's share
// sheet; the menu beside it sends the label map, the summary, or all three. Each file is made
// when asked for (the worker encodes the label map and the summary on the tap). Elsewhere
// #share-out stays hidden and the downloads do the same job.
//
// A share needs the tap's user activation, which lasts a few seconds. When making the files
// outlasts it (a 12 MP photo on a slow phone), the files are kept and the button asks for a
// second tap, which shares them at once.
import { exportName } from '../../lib/sceneseg.js';

const PICTURE_TYPE = 'image/jpeg';
const PICTURE_QUALITY = 0.92;

/** Whether this browser can share image files at all (Share API level 2). */
export function canShareFiles(nav = navigator) {
  try {
    const probe = new File([new Uint8Array(1)], 'probe.png', { type: 'image/png' });
    return typeof nav.share === 'function' && typeof nav.canShare === 'function' && nav.canShare({ files: [probe] });
  } catch {
    return false;
  }
}

/**
 * @param {object} page  shown(): the result on screen ({file, result, width, height}) or null;
 *   showError(message); announce(text) (main.js)
 */
export function createShareOut({ shown, showError, announce }) {
  const box = document.getElementById('share-out');
  const pictureButton = document.getElementById('share-picture');
  const menu = document.getElementById('share-menu');
  const supported = canShareFiles();
  let prepared = null; // {what, photo, files, control}: made, waiting for a second tap
  const labels = new Map([[pictureButton, pictureButton.textContent]]);

  /** A new result is on screen: sharing follows it. */
  function enable() {
    box.hidden = !supported;
    reset();
  }

  function reset() {
    if (prepared) prepared.control.textContent = labels.get(prepared.control);
    prepared = null;
  }

  /** The picture as on screen: the photo, then the overlay canvas at its shown opacity, at the
   *  resolution the canvases hold (the screen's for a big photo: app/photo-view.js). */
  async function picture(photo) {
    const source = document.getElementById('photo');
    const overlay = document.getElementById('overlay');
    const canvas = new OffscreenCanvas(source.width, source.height);
    const context = canvas.getContext('2d');
    context.drawImage(source, 0, 0);
    context.globalAlpha = overlay.classList.contains('opaque') ? 1 : Number(getComputedStyle(overlay).opacity);
    context.drawImage(overlay, 0, 0, source.width, source.height);
    const blob = await canvas.convertToBlob({ type: PICTURE_TYPE, quality: PICTURE_QUALITY });
    const stem = exportName(photo.file.name, 'overlay-png').replace(/-overlay\.png$/, '');
    return new File([blob], `${stem}-segmented.jpg`, { type: PICTURE_TYPE });
  }

  async function exportFile(photo, kind) {
    const blob = await photo.result.export(kind);
    return new File([blob], exportName(photo.file.name, kind), { type: blob.type });
  }

  const makers = {
    picture: (photo) => Promise.all([picture(photo)]),
    'labels-png': (photo) => Promise.all([exportFile(photo, 'labels-png')]),
    'summary-json': (photo) => Promise.all([exportFile(photo, 'summary-json')]),
    all: (photo) => Promise.all([picture(photo), exportFile(photo, 'labels-png'), exportFile(photo, 'summary-json')]),
  };

  async function share(what, control) {
    const photo = shown();
    if (!photo || control.getAttribute('aria-busy') === 'true') return;
    if (prepared?.what === what && prepared.photo === photo) {
      const { files } = prepared;
      reset();
      return send(files, photo); // the second tap: its own activation
    }
    reset();
    control.setAttribute('aria-busy', 'true');
    let files;
    try {
      files = await makers[what](photo);
    } catch (error) {
      showError(`Could not prepare the files to share: ${error.message}`);
      return;
    } finally {
      control.removeAttribute('aria-busy');
    }
    if (shown() !== photo) return; // a newer photo came meanwhile
    if (navigator.userActivation?.isActive === false) {
      prepared = { what, photo, files, control };
      if (!labels.has(control)) labels.set(control, control.textContent);
      control.textContent = 'Tap again to share';
      announce('The files are ready: tap again to share them.');
      return;
    }
    return send(files, photo);
  }

  async function send(files, photo) {
    // Each file on its own: a type this browser refuses is dropped, not the whole share.
    const accepted = files.filter((file) => navigator.canShare({ files: [file] }));
    const refused = files.filter((file) => !accepted.includes(file));
    if (!accepted.length) {
      showError(`This browser cannot share ${refused.map((f) => f.name).join(', ')}; use the downloads instead.`);
      return;
    }
    if (refused.length) announce(`Not shared (this browser refuses the type): ${refused.map((f) => f.name).join(', ')}.`);
    try {
      await navigator.share({ files: accepted, title: `${photo.file.name}, segmented` });
    } catch (error) {
      if (error.name !== 'AbortError') showError(`Could not share: ${error.message}`); // AbortError: the visitor closed the sheet
    }
  }

  pictureButton.addEventListener('click', () => share('picture', pictureButton));
  for (const item of menu.querySelectorAll('[data-share]')) {
    item.addEventListener('click', () => {
      menu.open = false; // a menu closes once an item is chosen
      share(item.dataset.share, item);
    });
  }
  return { enable };
}
