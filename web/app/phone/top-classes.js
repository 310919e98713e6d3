// The strip of the largest classes under the photo (#top-classes), shown by the phone layout
// (phone.css) so that what the photo holds is on the first screen; #legend stays the full list.
// A tap isolates a class, as a tap on its legend row does.
import { formatPercent } from '../../lib/legend.js';

const MAX_SHOWN = 8; // a phone shows 3–4 at once; the strip scrolls sideways for the rest

/**
 * @param {HTMLOListElement} list
 * @param {{id, name, color, fraction}[]} classes  largest first
 * @param {{onIsolate(id: number): void}} handlers
 */
export function renderTopClasses(list, classes, { onIsolate }) {
  list.replaceChildren(
    ...classes.slice(0, MAX_SHOWN).map(({ id, name, color, fraction }) => {
      const item = document.createElement('li');
      item.dataset.classId = id;
      const button = document.createElement('button');
      button.type = 'button';
      button.setAttribute('aria-pressed', 'false');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `rgb(${color.join(',')})`;
      const share = document.createElement('span');
      share.className = 'share';
      share.textContent = formatPercent(fraction);
      button.append(swatch, name, share);
      button.addEventListener('click', () => onIsolate(id));
      item.append(button);
      return item;
    }),
  );
}

/** Mark the isolated class, as updateLegend does in the legend. */
export function updateTopClasses(list, { isolated }) {
  for (const item of list.children) {
    item.firstChild.setAttribute('aria-pressed', String(Number(item.dataset.classId) === isolated));
  }
}
