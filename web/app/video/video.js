// Video mode: a local video file or the camera, segmented frame by frame in the worker, the
// overlay drawn over the playing video. The latest frame wins: at most two frames are out, one
// being segmented and one waiting in the worker (a newer frame would replace it). The second
// is captured shortly before the first is due back (from the measured worker time), so the
// worker never idles between frames (capture, messages and the wait for the video's next
// frame overlap its work) and the frame waits there briefly: nothing queues up. The files out
// (the recording, the class shares) are video-downloads.js.
import { formatPercent } from '../../lib/legend.js';
import { createVideoDownloads } from './video-downloads.js';

const SIZES = [192, 256, 320, 384, 512];
// Auto input size: the largest whose predicted worker time per frame stays within this
// budget (~16 frames a second), predicted from frames measured at 256x256.
const AUTO_BUDGET_MS = 62;
const AUTO_PROBE_FRAMES = 8;

const $ = (id) => document.getElementById(id);

export function setupVideo(segmenter) {
  const ui = {
    section: $('video'),
    file: $('video-file'),
    camera: $('video-camera'),
    pause: $('video-pause'),
    step: $('video-step'),
    size: $('video-size'),
    labelsAt: $('video-labels-at'),
    alpha: $('video-alpha'),
    alphaValue: $('video-alpha-value'),
    opacity: $('video-opacity'),
    record: $('video-record'),
    download: $('video-download'),
    sharesCsv: $('video-shares-csv'),
    sharesJson: $('video-shares-json'),
    error: $('video-error'),
    player: $('video-player'),
    overlay: $('video-overlay'),
    stats: $('video-stats'),
    classes: $('video-classes'),
  };
  const overlayContext = ui.overlay.getContext('bitmaprenderer');
  const downloads = createVideoDownloads(ui, segmenter, (message) => showError(message));

  let stream = null; // camera MediaStream
  let objectUrl = null; // the video file's
  let inFlight = 0; // frames sent whose result has not come back
  const MAX_IN_FLIGHT = 2;
  // The second frame is taken this long before the first one's result is due: capturing,
  // posting and the worker's message handling take about that.
  const CAPTURE_LEAD_MS = 25;
  let workerMs = 0; // worker time per frame, moving average
  let lastSent = 0; // when the latest frame was captured and sent
  let scheduled = false; // a video-frame callback is pending
  let reset = true; // start afresh on the next frame (new source, seek)
  let autoSize = null; // {measured: [ms...], chosen}
  let frames = 0;
  let recent = []; // times of recent results, for the FPS figure
  let latencies = [];
  let flickers = []; // share of pixels whose label changed, recent frames
  let stepping = false;

  const showError = (message) => {
    ui.error.textContent = message;
    ui.error.hidden = !message;
  };

  /** The frame request's input size: {inputWidth, inputHeight}, or {inputShort} for a short
   *  side, whose other side the worker takes by the photo's detail rule (one rule, in Python:
   *  sceneseg.resolution.scaled_size: in proportion, multiples of 32, at most 4:1). */
  function inputSize() {
    const value = ui.size.value;
    const size = value === 'auto' ? (autoSize?.chosen ?? 256) : Number.parseInt(value, 10);
    return value.endsWith('s') ? { inputShort: size } : { inputWidth: size, inputHeight: size };
  }

  async function stop() {
    ui.player.pause();
    downloads.stop();
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    ui.player.srcObject = null;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    ui.player.removeAttribute('src');
    ui.player.load();
  }

  function begin(name) {
    frames = 0;
    recent = [];
    latencies = [];
    flickers = [];
    reset = true;
    autoSize = ui.size.value === 'auto' ? { measured: [], chosen: null } : null;
    downloads.begin(name);
    ui.pause.disabled = false;
    ui.step.disabled = !!stream;
    ui.player.controls = !stream; // a file can be sought (a seek restarts the smoothing)
    ui.section.dataset.frames = '0';
    schedule();
  }

  ui.file.addEventListener('change', async () => {
    const [file] = ui.file.files;
    ui.file.value = '';
    if (!file) return;
    showError('');
    await stop();
    objectUrl = URL.createObjectURL(file);
    ui.player.src = objectUrl;
    ui.player.loop = true;
    try {
      await ui.player.play();
    } catch (error) {
      // A file the browser cannot play (e.g. H.265 where it has no decoder).
      if (ui.player.error || error.name === 'NotSupportedError') {
        showError(`${file.name}: this browser cannot play this video (try MP4 with H.264, or WebM).`);
        return;
      }
    }
    begin(file.name.replace(/\.[^.]*$/, '') || 'video');
  });
  ui.player.addEventListener('error', () => {
    if (objectUrl) showError('This browser cannot play this video (try MP4 with H.264, or WebM).');
  });

  ui.camera.addEventListener('click', async () => {
    showError('');
    await stop();
    if (!navigator.mediaDevices?.getUserMedia) {
      showError('The camera is only available on a secure page (https or localhost).');
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 360 } },
        audio: false,
      });
    } catch (error) {
      showError(cameraMessage(error));
      return;
    }
    ui.player.srcObject = stream;
    ui.player.loop = false;
    await ui.player.play().catch(() => {});
    begin('camera');
  });

  ui.pause.addEventListener('click', () => {
    if (ui.player.paused) {
      ui.player.play();
    } else {
      ui.player.pause();
    }
  });
  ui.player.addEventListener('play', () => {
    ui.pause.textContent = 'Pause';
    schedule();
  });
  ui.player.addEventListener('pause', () => {
    ui.pause.textContent = 'Play';
  });
  // Frame by frame (files only): one frame forward, segmented when the video has got there.
  ui.step.addEventListener('click', () => {
    if (stream) return;
    ui.player.pause();
    stepping = true;
    ui.player.currentTime = Math.min(ui.player.duration || Infinity, ui.player.currentTime + 1 / 30);
  });
  ui.player.addEventListener('seeked', () => {
    if (!stepping) reset = true; // a jump: the smoothed past belongs to another moment
    stepping = false;
    pump(true);
  });

  ui.alpha.addEventListener('input', () => {
    ui.alphaValue.textContent = Number(ui.alpha.value).toFixed(2);
  });
  const applyOpacity = () => {
    ui.overlay.style.opacity = String(ui.opacity.value / 100);
  };
  ui.opacity.addEventListener('input', applyOpacity);
  applyOpacity();
  ui.size.addEventListener('change', () => {
    autoSize = ui.size.value === 'auto' ? { measured: [], chosen: null } : null;
    reset = true;
  });

  function schedule() {
    if (scheduled || (!ui.player.srcObject && !ui.player.src)) return;
    scheduled = true;
    const next = () => {
      scheduled = false;
      // A frame is in the worker and not due soon: this video frame would only wait there.
      if (inFlight && performance.now() < lastSent + workerMs - CAPTURE_LEAD_MS) schedule();
      else pump();
    };
    // requestVideoFrameCallback runs once per new video frame; a paused video has none.
    if ('requestVideoFrameCallback' in ui.player) ui.player.requestVideoFrameCallback(next);
    else requestAnimationFrame(next);
  }

  async function pump(force = false) {
    if (inFlight >= MAX_IN_FLIGHT) return; // the next frame is taken when one is back
    if (ui.player.readyState < 2 || (!force && ui.player.paused)) return;
    inFlight += 1;
    const captured = (lastSent = performance.now());
    // The next video frame goes out while this one is in the worker (see schedule()).
    if (inFlight < MAX_IN_FLIGHT && !ui.player.paused) schedule();
    const mediaTime = ui.player.currentTime;
    const input = inputSize();
    const videoSize = ui.labelsAt.value === 'video';
    let frame;
    let keep = null; // a reference to the frame for the recording (no copy)
    try {
      frame = 'VideoFrame' in self ? new VideoFrame(ui.player, { timestamp: Math.round(mediaTime * 1e6) }) : await createImageBitmap(ui.player);
      if (downloads.recording && frame.clone) keep = frame.clone();
      const pending = segmenter.segmentFrame(frame, {
        ...input,
        alpha: Number(ui.alpha.value),
        reset,
        labelWidth: videoSize ? ui.player.videoWidth : undefined,
        labelHeight: videoSize ? ui.player.videoHeight : undefined,
      });
      reset = false; // sent: the frames after it continue the smoothing
      const result = await pending;
      if (result) show(result, captured, mediaTime, keep, result.input.join('×'));
    } catch (error) {
      showError(`Segmentation failed: ${error.message}`);
    } finally {
      keep?.close();
      inFlight -= 1;
    }
    if (!ui.player.paused) schedule();
  }

  function show(result, captured, mediaTime, frame, size) {
    const { overlay } = result;
    downloads.drawFrame(frame, overlay);
    ui.overlay.width = overlay.width;
    ui.overlay.height = overlay.height;
    overlayContext.transferFromImageBitmap(overlay); // no copy; the canvas is scaled by CSS
    const now = performance.now();
    workerMs = workerMs ? 0.8 * workerMs + 0.2 * result.timings.worker : result.timings.worker;
    frames += 1;
    recent.push(now);
    recent = recent.filter((t) => now - t < 2000);
    latencies.push(now - captured);
    if (latencies.length > 30) latencies.shift();
    const fps = recent.length > 1 ? ((recent.length - 1) * 1000) / (now - recent[0]) : 0;
    const latency = latencies.reduce((a, b) => a + b, 0) / latencies.length;
    if (result.flicker !== null) flickers.push(result.flicker);
    if (flickers.length > 30) flickers.shift();
    const flicker = flickers.length ? flickers.reduce((a, b) => a + b, 0) / flickers.length : 0;
    if (autoSize && autoSize.chosen === null) chooseSize(result.timings.worker);
    const t = result.timings;
    ui.stats.textContent =
      `${fps.toFixed(1)} frames/s · latency ${Math.round(latency)} ms · input ${size}` +
      `${ui.size.value === 'auto' ? ' (auto)' : ''} · labels ${result.width}×${result.height}` +
      ` · model ${Math.round(t.model)} ms, worker ${Math.round(t.worker)} ms` +
      ` · labels changing ${(flicker * 100).toFixed(2)}% a frame${result.cut ? ' · new scene' : ''}`;
    Object.assign(ui.stats.dataset, {
      fps: fps.toFixed(2),
      latency: latency.toFixed(1),
      input: size,
      model: t.model.toFixed(1),
      worker: t.worker.toFixed(1),
      timings: JSON.stringify(t),
      flicker: flicker.toFixed(5),
    });
    ui.classes.textContent = result.classes
      .toSorted((a, b) => b.fraction - a.fraction)
      .slice(0, 5)
      .map((c) => `${c.name} ${formatPercent(c.fraction)}`)
      .join(' · ');
    // Pixels from the shares (count / total in Python: the rounding gives the count back).
    const total = result.width * result.height;
    downloads.addShares({
      time: stream ? now / 1000 : mediaTime,
      width: result.width,
      height: result.height,
      classes: result.classes.map((c) => ({ id: c.id, pixels: Math.round(c.fraction * total) })),
    });
    ui.section.dataset.frames = String(frames);
  }

  function chooseSize(workerMs) {
    autoSize.measured.push(workerMs);
    if (autoSize.measured.length < AUTO_PROBE_FRAMES) return;
    const sorted = autoSize.measured.slice(2).sort((a, b) => a - b); // the first ones warm up
    const ms256 = sorted[Math.floor(sorted.length / 2)];
    // Model time grows about with the pixel count.
    const fits = SIZES.filter((s) => ms256 * ((s * s) / (256 * 256)) <= AUTO_BUDGET_MS);
    autoSize.chosen = fits.length ? fits[fits.length - 1] : SIZES[0];
    ui.section.dataset.autoSize = String(autoSize.chosen);
  }

  return { stop };
}

/** What to tell the person when getUserMedia fails, by the error's name. */
export function cameraMessage(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was refused. Allow the camera for this site (the camera icon in the address bar), then press "Use the camera" again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Connect a camera, or choose a video file instead.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera could not be started; another application may be using it. Close it and try again.';
    default:
      return `The camera could not be started (${error?.message || error}).`;
  }
}
