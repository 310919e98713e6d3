// The legend: classes found, largest area first: swatch, name, share, a show/hide box.
// Clicking a name shows only that class (again: all); pointing at or focusing a row
// highlights the class on the image. Filter by name (the list) and by group (list and image).

/** Groups of a class as 'axis:name' ('context:outdoor', 'kind:nature'); result.classes[].group
 *  is {context, kind} (py/sceneseg/data/class_groups.csv). */
export function groupsOf(cls) {
  const group = cls.group;
  if (!group) return [];
  if (typeof group === 'string') return [group];
  return Object.entries(group).filter(([, v]) => v).map(([k, v]) => `${k}:${v}`);
}

/**
 * @param {HTMLOListElement} list
 * @param {{id, name, color, pixels, fraction, group?}[]} classes
 * @param {{onIsolate(id), onToggle(id, visible), onHighlight(id|null)}} handlers
 */
export function renderLegend(list, classes, handlers) {
  list.replaceChildren(
    ...classes.map((cls) => {
      const { id, name, color, pixels, fraction } = cls;
      const item = document.createElement('li');
      item.dataset.classId = id;
      item.dataset.groups = groupsOf(cls).join('|');
      item.title = `${name}: ${pixels.toLocaleString('en')} pixels`;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `rgb(${color.join(',')})`;
      const label = document.createElement('span');
      label.className = 'name';
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = name;
      button.setAttribute('aria-pressed', 'false');
      button.addEventListener('click', () => handlers.onIsolate(id));
      label.append(button);
      const share = document.createElement('span');
      share.className = 'share';
      share.textContent = formatPercent(fraction);
      const show = document.createElement('input');
      show.type = 'checkbox';
      show.checked = true;
      show.setAttribute('aria-label', `Show ${name}`);
      show.addEventListener('change', () => handlers.onToggle(id, show.checked));
      item.append(swatch, label, share, show);
      item.addEventListener('pointerenter', () => handlers.onHighlight(id));
      item.addEventListener('pointerleave', () => handlers.onHighlight(null));
      item.addEventListener('focusin', () => handlers.onHighlight(id));
      item.addEventListener('focusout', () => handlers.onHighlight(null));
      return item;
    }),
  );
}

/** Show the rows matching the name filter and group; mark the isolated one. */
export function updateLegend(list, { filter, group, isolated, hidden }) {
  const needle = filter.trim().toLowerCase();
  for (const item of list.children) {
    const id = Number(item.dataset.classId);
    const name = item.querySelector('button').textContent.toLowerCase();
    const inGroup = !group || item.dataset.groups.split('|').includes(group);
    item.hidden = !(inGroup && (!needle || name.includes(needle)));
    item.querySelector('button').setAttribute('aria-pressed', String(isolated === id));
    item.classList.toggle('isolated', isolated === id);
    item.querySelector('input').checked = !hidden.has(id);
  }
}

export function formatPercent(fraction) {
  const percent = fraction * 100;
  if (percent > 0 && percent < 0.1) return '<0.1%';
  return `${percent.toFixed(1)}%`;
}
