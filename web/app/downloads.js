// Download names derived from the photo's name, and saving a Blob as a file.

const SUFFIX = {
  'labels-png': '-labels.png',
  'overlay-png': '-overlay.png',
  'mask-png': '-mask.png',
  'masks-zip': '-masks.zip',
  'confidence-png': '-confidence.png',
  'summary-json': '-summary.json',
};

/** "IMG 0042.jpeg" + 'mask-png' + "tree" -> "IMG 0042-mask-tree.png" */
export function downloadName(photoName, kind, className) {
  const base = photoName.replace(/\.[^.]*$/, '').replace(/[\\/:*?"<>|]+/g, '_') || 'image';
  const suffix = SUFFIX[kind] ?? `-${kind}`;
  if (kind === 'mask-png' && className) return `${base}-mask-${className.replace(/[^\p{L}\p{N}]+/gu, '_')}.png`;
  return base + suffix;
}

export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
