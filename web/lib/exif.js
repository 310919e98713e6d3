// EXIF orientation (tag 0x0112) of a JPEG, PNG (eXIf chunk) or WebP (EXIF chunk), read from the
// file's bytes. The page draws the photo upright itself (paint-worker.js): the labels always
// follow the orientation (Pillow's exif_transpose), browsers' decoders have not always applied
// it, and Chromium's 'bitmaprenderer' canvas shows an oriented ImageBitmap sideways and stretched.

/** @param {ArrayBuffer} buffer  the first bytes of the file (64 KiB is plenty)  @returns {number} 1..8 */
export function exifOrientation(buffer) {
  const view = new DataView(buffer);
  const tiff = findTiff(view);
  return tiff === -1 ? 1 : readOrientation(view, tiff);
}

function findTiff(view) {
  const size = view.byteLength;
  if (size < 12) return -1;
  if (view.getUint16(0) === 0xffd8) {
    // JPEG: markers until the image data; APP1 "Exif\0\0" holds a TIFF structure.
    let at = 2;
    while (at + 4 <= size && view.getUint8(at) === 0xff) {
      const marker = view.getUint8(at + 1);
      const length = view.getUint16(at + 2);
      if (marker === 0xda || marker === 0xd9) break;
      if (marker === 0xe1 && at + 10 <= size && view.getUint32(at + 4) === 0x45786966 && view.getUint16(at + 8) === 0) {
        return at + 10;
      }
      at += 2 + length;
    }
    return -1;
  }
  if (view.getUint32(0) === 0x89504e47) {
    // PNG: chunks after the 8-byte signature; eXIf holds the TIFF structure directly.
    let at = 8;
    while (at + 8 <= size) {
      const length = view.getUint32(at);
      const type = view.getUint32(at + 4);
      if (type === 0x65584966) return at + 8; // eXIf
      if (type === 0x49444154) break; // IDAT: eXIf must come before
      at += 12 + length;
    }
    return -1;
  }
  if (view.getUint32(0) === 0x52494646 && view.getUint32(8) === 0x57454250) {
    // WebP (RIFF): an EXIF chunk, sometimes with the JPEG-style "Exif\0\0" prefix.
    let at = 12;
    while (at + 8 <= size) {
      const type = view.getUint32(at);
      const length = view.getUint32(at + 4, true);
      if (type === 0x45584946) {
        const start = at + 8;
        return start + 6 <= size && view.getUint32(start) === 0x45786966 ? start + 6 : start;
      }
      at += 8 + length + (length % 2);
    }
  }
  return -1;
}

function readOrientation(view, tiff) {
  try {
    const little = view.getUint16(tiff) === 0x4949;
    const ifd = tiff + view.getUint32(tiff + 4, little);
    const entries = view.getUint16(ifd, little);
    for (let i = 0; i < entries; i++) {
      const entry = ifd + 2 + i * 12;
      if (view.getUint16(entry, little) === 0x0112) {
        const value = view.getUint16(entry + 8, little);
        return value >= 1 && value <= 8 ? value : 1;
      }
    }
  } catch {
    // Truncated or damaged EXIF: Pillow ignores it too.
  }
  return 1;
}

/**
 * The canvas transform that draws a raw (unoriented) w x h bitmap upright.
 * @returns {{width, height, matrix: [a, b, c, d, e, f]}}  the upright size and setTransform()'s arguments
 */
export function orientationTransform(orientation, w, h) {
  switch (orientation) {
    case 2: return { width: w, height: h, matrix: [-1, 0, 0, 1, w, 0] }; // mirror
    case 3: return { width: w, height: h, matrix: [-1, 0, 0, -1, w, h] }; // 180°
    case 4: return { width: w, height: h, matrix: [1, 0, 0, -1, 0, h] }; // flip vertical
    case 5: return { width: h, height: w, matrix: [0, 1, 1, 0, 0, 0] }; // transpose
    case 6: return { width: h, height: w, matrix: [0, 1, -1, 0, h, 0] }; // 90° clockwise
    case 7: return { width: h, height: w, matrix: [0, -1, -1, 0, h, w] }; // transverse
    case 8: return { width: h, height: w, matrix: [0, -1, 1, 0, 0, w] }; // 90° anticlockwise
    default: return { width: w, height: h, matrix: [1, 0, 0, 1, 0, 0] };
  }
}

// A 2x1 JPEG tagged "rotate 90° clockwise" (EXIF orientation 6): a browser whose decoder
// applies EXIF orientation decodes it as 1x2. Decided once, by what the browser does, since
// imageOrientation: 'none' is no longer honoured everywhere (Chromium treats it as 'from-image').
const PROBE_JPEG =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/4QAiRXhpZgAATU0AKgAAAAgAAQESAAMAAAABAAYAAAAAAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAABAAIDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwAooooA/9k=';

let appliesOrientation = null;

/** Whether createImageBitmap() in this browser applies EXIF orientation itself. */
export function decoderAppliesOrientation() {
  appliesOrientation ??= (async () => {
    const bytes = Uint8Array.from(atob(PROBE_JPEG), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    const applied = bitmap.width === 1 && bitmap.height === 2;
    bitmap.close();
    return applied;
  })().catch(() => true);
  return appliesOrientation;
}
