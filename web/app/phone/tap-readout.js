// On a touch screen, a tap on the photo names the class under the finger, next to the finger,
// for a moment (the read-out line under the photo may be off the first screen on a phone). A
// drag, a pinch or a tap beside the photo shows nothing.
const SHOW_MS = 1800;
const TAP_SLOP = 10; // px a finger may move and still tap

/**
 * @param {HTMLElement} viewport
 * @param {(clientX: number, clientY: number) => string} classAt  the class name there, or ''
 */
export function setupTapReadout(viewport, classAt) {
  const bubble = document.createElement('div');
  bubble.className = 'tap-readout';
  bubble.hidden = true;
  bubble.setAttribute('aria-hidden', 'true'); // #pointer-readout already describes the viewer
  viewport.append(bubble);
  let down = null;
  let timer = 0;
  viewport.addEventListener('pointerdown', (event) => {
    // A second finger makes it a pinch, not a tap.
    down = event.pointerType === 'touch' && event.isPrimary ? [event.clientX, event.clientY] : null;
  });
  viewport.addEventListener('pointercancel', () => (down = null)); // the page scrolled
  viewport.addEventListener('pointerup', (event) => {
    if (!down || !event.isPrimary) return;
    const moved = Math.hypot(event.clientX - down[0], event.clientY - down[1]);
    down = null;
    const name = moved > TAP_SLOP ? '' : classAt(event.clientX, event.clientY);
    if (!name) return;
    const box = viewport.getBoundingClientRect();
    bubble.textContent = name;
    bubble.style.left = `${event.clientX - box.left}px`;
    bubble.style.top = `${event.clientY - box.top}px`;
    bubble.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => (bubble.hidden = true), SHOW_MS);
  });
}
