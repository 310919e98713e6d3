// Showing the photo and its overlay. Both arrive as ImageBitmaps (the overlay from the worker,
// the photo decoded by the browser off the main thread) and are handed to 'bitmaprenderer'
// canvases, which take the bitmap over without a copy: the UI thread does no per-pixel work.

/** Show `bitmap` in `canvas` at width x height (the canvas then owns and closes it). */
export function showBitmap(canvas, bitmap, width, height) {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('bitmaprenderer').transferFromImageBitmap(bitmap);
}

/**
 * Decode the photo for display, as the browser does (EXIF orientation applied, like the
 * pipeline), off the main thread. Started when the photo is picked, so that it is ready by the
 * time the labels are. Resolves with null if this browser cannot decode the file.
 */
export function decodePhoto(file) {
  return createImageBitmap(file, { imageOrientation: 'from-image' }).catch(() => null);
}

/**
 * Show the decoded photo at the labels' size. Returns false, and leaves the canvas black, if
 * there is no photo or its size differs from the labels'.
 */
export function showPhoto(canvas, bitmap, width, height) {
  const matches = bitmap !== null && bitmap.width === width && bitmap.height === height;
  if (!matches) bitmap?.close();
  showBitmap(canvas, matches ? bitmap : null, width, height);
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
