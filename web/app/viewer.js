// The photo viewer: photo and overlay canvases at full resolution inside a viewport, moved and
// scaled with one CSS transform (the compositor does the work), in three layouts:
//   overlay  the labels over the photo (opacity slider)
//   split    before/after: the labels right of a movable line, the photo left of it
//   side     the photo and the labels side by side
// Zoom and pan: wheel, drag, pinch, keyboard (arrows, + and -, 0 fit, 1 actual pixels).

const GAP = 16; // px between the two images in the side-by-side layout (in image pixels / scale)
const MIN_SHORT_SIDE = 64; // css px: a 20000x10 panorama is shown tall enough to see, then panned

export function createViewer({ viewport, stage, photo, overlay, splitLine, onPoint, onChange }) {
  let width = 0;
  let height = 0;
  let mode = 'overlay';
  let split = 0.5;
  let scale = 1;
  let tx = 0;
  let ty = 0;
  let fitted = true; // follow the viewport's size until the user zooms or pans

  const contentWidth = () => (mode === 'side' ? 2 * width + GAP : width);

  function fitScale() {
    const box = viewport.getBoundingClientRect();
    const cw = contentWidth();
    let s = Math.min(box.width / cw, box.height / height);
    // Never thinner than MIN_SHORT_SIDE: extreme panoramas are panned instead.
    const shortSide = Math.min(cw, height);
    if (shortSide * s < MIN_SHORT_SIDE) s = Math.min(MIN_SHORT_SIDE, box.height, box.width) / shortSide;
    return s;
  }

  function fit() {
    if (!width) return;
    const box = viewport.getBoundingClientRect();
    scale = fitScale();
    tx = Math.max(0, (box.width - contentWidth() * scale) / 2);
    ty = Math.max(0, (box.height - height * scale) / 2);
    fitted = true;
    apply();
  }

  function clamp() {
    // Keep at least a quarter of the viewport covered by the image.
    const box = viewport.getBoundingClientRect();
    const w = contentWidth() * scale;
    const h = height * scale;
    const mx = Math.min(w, box.width) / 4;
    const my = Math.min(h, box.height) / 4;
    tx = Math.min(box.width - mx, Math.max(mx - w, tx));
    ty = Math.min(box.height - my, Math.max(my - h, ty));
  }

  function apply() {
    clamp();
    stage.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    // Zoomed in far, pixels show as crisp squares (the labels are per pixel).
    stage.classList.toggle('pixelated', scale * devicePixelRatio >= 3);
    overlay.style.left = mode === 'side' ? `${width + GAP}px` : '0';
    overlay.style.clipPath = mode === 'split' ? `inset(0 0 0 ${split * 100}%)` : '';
    splitLine.hidden = mode !== 'split' || !width;
    if (!splitLine.hidden) splitLine.style.left = `${tx + split * width * scale}px`;
    // The phone layout (phone/phone.css) lets one finger scroll the page while fitted.
    viewport.toggleAttribute('data-fitted', fitted);
    onChange?.({ scale, fitted });
  }

  function zoomAt(factor, cx, cy) {
    const next = Math.min(64, Math.max(fitScale() / 4, scale * factor));
    tx = cx - ((cx - tx) * next) / scale;
    ty = cy - ((cy - ty) * next) / scale;
    scale = next;
    fitted = false;
    apply();
  }

  const centre = () => {
    const box = viewport.getBoundingClientRect();
    return [box.width / 2, box.height / 2];
  };

  /** Image coordinates under a client point, or null outside the labels. */
  function imagePoint(clientX, clientY) {
    const box = viewport.getBoundingClientRect();
    let x = (clientX - box.left - tx) / scale;
    const y = (clientY - box.top - ty) / scale;
    if (mode === 'side' && x >= width + GAP) x -= width + GAP;
    if (x < 0 || y < 0 || x >= width || y >= height) return null;
    return { x: Math.floor(x), y: Math.floor(y) };
  }

  // Pointers: hover reads out; one pointer drags; two pinch.
  const pointers = new Map();
  let pinch = null;
  let moved = false;
  let scrolls = false; // a touch the browser may take for scrolling the page
  viewport.addEventListener('pointerdown', (event) => {
    if (!width) return;
    // Where the CSS lets the browser pan (touch-action pan-y: the phone layout at fit zoom),
    // one finger is the page's: it scrolls, and does not drag the photo. Two still pinch.
    scrolls = event.pointerType === 'touch' && getComputedStyle(viewport).touchAction !== 'none';
    viewport.setPointerCapture(event.pointerId);
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    moved = false;
    if (pointers.size === 2) {
      const [[x1, y1], [x2, y2]] = pointers.values();
      pinch = { distance: Math.hypot(x2 - x1, y2 - y1) };
    }
    onPoint(imagePoint(event.clientX, event.clientY));
  });
  viewport.addEventListener('pointermove', (event) => {
    if (!width) return;
    const last = pointers.get(event.pointerId);
    if (!last) {
      onPoint(imagePoint(event.clientX, event.clientY));
      return;
    }
    const box = viewport.getBoundingClientRect();
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    if (pointers.size === 2 && pinch) {
      const [[x1, y1], [x2, y2]] = pointers.values();
      const distance = Math.hypot(x2 - x1, y2 - y1);
      zoomAt(distance / pinch.distance, (x1 + x2) / 2 - box.left, (y1 + y2) / 2 - box.top);
      pinch.distance = distance;
    } else if (pointers.size === 1 && !scrolls) {
      const dx = event.clientX - last[0];
      const dy = event.clientY - last[1];
      if (moved || Math.abs(dx) + Math.abs(dy) > 3) {
        moved = true;
        tx += dx;
        ty += dy;
        fitted = false;
        apply();
      } else {
        pointers.set(event.pointerId, last); // below the drag threshold: keep the start
      }
      onPoint(imagePoint(event.clientX, event.clientY));
    }
  });
  const release = (event) => {
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinch = null;
  };
  viewport.addEventListener('pointerup', release);
  viewport.addEventListener('pointercancel', release);
  viewport.addEventListener('pointerleave', (event) => event.pointerType === 'mouse' && onPoint(null));
  viewport.addEventListener(
    'wheel',
    (event) => {
      if (!width) return;
      event.preventDefault();
      const box = viewport.getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
    },
    { passive: false },
  );
  viewport.addEventListener('keydown', (event) => {
    if (!width || event.ctrlKey || event.metaKey || event.altKey) return;
    const box = viewport.getBoundingClientRect();
    const step = event.shiftKey ? 0.5 : 0.1;
    const actions = {
      ArrowLeft: () => pan(box.width * step, 0),
      ArrowRight: () => pan(-box.width * step, 0),
      ArrowUp: () => pan(0, box.height * step),
      ArrowDown: () => pan(0, -box.height * step),
      '+': () => zoomAt(1.25, ...centre()),
      '=': () => zoomAt(1.25, ...centre()),
      '-': () => zoomAt(0.8, ...centre()),
      0: fit,
      1: actualSize,
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  function pan(dx, dy) {
    tx += dx;
    ty += dy;
    fitted = false;
    apply();
  }

  /** One image pixel per screen pixel, centred on what is in the middle now. */
  function actualSize() {
    zoomAt(1 / devicePixelRatio / scale, ...centre());
  }

  new ResizeObserver(() => (fitted ? fit() : apply())).observe(viewport);

  return {
    /** A new image of width x height: canvases sized by the caller; fit it. */
    setSize(w, h) {
      width = w;
      height = h;
      for (const canvas of [photo, overlay]) {
        canvas.style.width = `${w}px`;
        canvas.style.height = `${h}px`;
      }
      stage.style.width = `${w}px`;
      stage.style.height = `${h}px`;
      // The phone layout sizes the viewport to the photo's shape (phone/phone.css).
      viewport.style.setProperty('--photo-aspect', `${w} / ${h}`);
      fit();
    },
    setMode(next) {
      mode = next;
      fit();
    },
    setSplit(fraction) {
      split = fraction;
      apply();
    },
    zoomIn: () => zoomAt(1.25, ...centre()),
    zoomOut: () => zoomAt(0.8, ...centre()),
    fit,
    actualSize,
    imagePoint,
  };
}
