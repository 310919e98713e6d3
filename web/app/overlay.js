// Drawing a label map: one colour per class, at the photo's full resolution.

/**
 * Paint `labels` (class id per pixel) into `canvas` with each class's colour.
 * @param {HTMLCanvasElement} canvas
 * @param {Uint8Array} labels  width * height, row-major
 * @param {{id: number, color: number[]}[]} classes  at least every id present in labels
 */
export function drawLabels(canvas, labels, width, height, classes) {
  // Pack RGBA into one 32-bit word per class; ImageData is RGBA in memory, and every
  // platform browsers run on is little-endian, so the word reads 0xAABBGGRR.
  const lut = new Uint32Array(256);
  for (const { id, color: [r, g, b] } of classes) lut[id] = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  const image = new ImageData(width, height);
  const pixels = new Uint32Array(image.data.buffer);
  for (let i = 0; i < labels.length; i++) pixels[i] = lut[labels[i]];
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').putImageData(image, 0, 0);
}

/**
 * Draw the photo as the browser decodes it (EXIF orientation applied, like the pipeline).
 * Returns false if the browser cannot decode the file or its size differs from the labels.
 */
export async function drawPhoto(canvas, file, width, height) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    return false;
  }
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const matches = bitmap.width === width && bitmap.height === height;
  if (matches) ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return matches;
}

/** Class id under a pointer event on an element showing the label map scaled to fit. */
export function labelAt(event, element, labels, width, height) {
  const box = element.getBoundingClientRect();
  const x = Math.floor(((event.clientX - box.left) / box.width) * width);
  const y = Math.floor(((event.clientY - box.top) / box.height) * height);
  if (x < 0 || y < 0 || x >= width || y >= height) return -1;
  return labels[y * width + x];
}
