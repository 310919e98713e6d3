// Video mode's files out: the overlaid video as it was shown (MediaRecorder, WebM), frame for
// frame, and every frame's class shares (CSV or JSON, written by Python in the engine's worker,
// in the batches' layout, when asked for).
import { saveBlob } from '../downloads.js';

/**
 * @param {object} ui  player (the <video>), opacity (the overlay's slider), record (button),
 *   download (the recording's link), sharesCsv, sharesJson (links)
 * @param {object} segmenter  lib/sceneseg.js's (classShares writes the files)
 * @param {(message: string) => void} showError
 */
export function createVideoDownloads({ player, opacity, record, download, sharesCsv, sharesJson }, segmenter, showError) {
  let recorder = null;
  let recordCanvas = null;
  let recordContext = null;
  // Per video time (to the millisecond, as the files name a frame): {time, width, height,
  // classes: [{id, pixels}]}, the latest frame segmented at that time.
  let shares = new Map();
  let sourceName = 'video';

  record.addEventListener('click', () => (recorder ? stopRecording() : startRecording()));

  function startRecording() {
    const w = player.videoWidth;
    const h = player.videoHeight;
    recordCanvas = document.createElement('canvas');
    recordCanvas.width = w;
    recordCanvas.height = h;
    recordContext = recordCanvas.getContext('2d');
    const track = recordCanvas.captureStream(0);
    const chunks = [];
    const type = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'].find((t) => MediaRecorder.isTypeSupported(t));
    recorder = new MediaRecorder(track, type ? { mimeType: type } : undefined);
    recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
    recorder.onstop = () => {
      const blob = new Blob(chunks, { type: 'video/webm' });
      enable(download, blob, `${sourceName}-segmented.webm`);
      track.getTracks().forEach((t) => t.stop());
    };
    recorder.start(1000);
    record.textContent = 'Stop recording';
    record.setAttribute('aria-pressed', 'true');
  }

  function stopRecording() {
    if (!recorder) return;
    recorder.stop();
    recorder = null;
    record.textContent = 'Record';
    record.setAttribute('aria-pressed', 'false');
  }

  /** The frame that was segmented, its overlay on top: what the viewer saw, frame for frame. */
  function drawRecordFrame(frame, overlay) {
    const { width: w, height: h } = recordCanvas;
    recordContext.globalAlpha = 1;
    recordContext.drawImage(frame ?? player, 0, 0, w, h);
    recordContext.globalAlpha = opacity.value / 100;
    recordContext.drawImage(overlay, 0, 0, w, h);
    for (const track of recorder.stream.getVideoTracks()) track.requestFrame?.();
  }

  // Written when asked for (a click), from every frame so far: one row per frame, named
  // '<video>#t=<seconds>' (a media fragment of the video's time).
  async function saveShares(link, format) {
    if (!shares.size || link.getAttribute('aria-busy') === 'true') return;
    const rows = [...shares.values()]
      .sort((a, b) => a.time - b.time)
      .map(({ time, width, height, classes }) => ({ photo: `${sourceName}#t=${time.toFixed(3)}`, width, height, classes }));
    link.setAttribute('aria-busy', 'true');
    try {
      saveBlob(await segmenter.classShares(format, rows), `${sourceName}-class-shares.${format}`);
    } catch (error) {
      showError(`Could not prepare the class shares: ${error.message}`);
    } finally {
      link.removeAttribute('aria-busy');
    }
  }
  for (const [link, format] of [[sharesCsv, 'csv'], [sharesJson, 'json']]) {
    link.tabIndex = 0;
    link.addEventListener('click', (event) => {
      event.preventDefault();
      saveShares(link, format);
    });
    link.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      saveShares(link, format);
    });
  }

  return {
    /** A new source (named `name` in the files): nothing recorded or counted yet. */
    begin(name) {
      sourceName = name;
      shares = new Map();
      for (const link of [download, sharesCsv, sharesJson]) disable(link);
      record.disabled = false;
    },
    /** Whether a recording runs (the frames sent are then kept for it). */
    get recording() {
      return recorder !== null;
    },
    /** A segmented frame into the recording, if one runs (before the overlay is shown: that detaches it). */
    drawFrame(frame, overlay) {
      if (recorder) drawRecordFrame(frame, overlay);
    },
    /** One frame's class shares: {time, width, height, classes: [{id, pixels}]}. */
    addShares(entry) {
      // A video time segmented again (a pause, a step, the video looping or sought back): one
      // row set per time, the latest; the files list frames in time order.
      shares.set(entry.time.toFixed(3), entry);
      if (shares.size === 1) for (const link of [sharesCsv, sharesJson]) link.setAttribute('aria-disabled', 'false');
    },
    stop: stopRecording,
  };
}

const urls = new WeakMap();

function enable(link, blob, name) {
  disable(link);
  const url = URL.createObjectURL(blob);
  urls.set(link, url);
  link.href = url;
  link.download = name;
  link.setAttribute('aria-disabled', 'false');
}

function disable(link) {
  const url = urls.get(link);
  if (url) URL.revokeObjectURL(url);
  link.removeAttribute('href');
  link.setAttribute('aria-disabled', 'true');
}
