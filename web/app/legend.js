// The legend: classes found, largest area first, with colour swatch and share of the image.

/** @param {HTMLOListElement} list  @param {{id, name, color, pixels, fraction}[]} classes */
export function renderLegend(list, classes) {
  list.replaceChildren(
    ...classes.map(({ id, name, color, pixels, fraction }) => {
      const item = document.createElement('li');
      item.dataset.classId = id;
      item.title = `${name}: ${pixels.toLocaleString('en')} pixels`;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `rgb(${color.join(',')})`;
      const label = document.createElement('span');
      label.textContent = name;
      const share = document.createElement('span');
      share.className = 'share';
      share.textContent = formatPercent(fraction);
      item.append(swatch, label, share);
      return item;
    }),
  );
}

export function formatPercent(fraction) {
  const percent = fraction * 100;
  if (percent > 0 && percent < 0.1) return '<0.1%';
  return `${percent.toFixed(1)}%`;
}
