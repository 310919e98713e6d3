// The colour overlay, made in the worker: a 12-megapixel label map takes a few hundred ms
// to colour and upload, which would freeze the page if the UI thread did it.

/**
 * Each pixel in its class colour, as an ImageBitmap the page can show without copying.
 * @param {Uint8Array} labels  width * height class ids, row-major
 * @param {{id: number, color: number[]}[]} classes  at least every id present in labels
 * @returns {Promise<ImageBitmap>}
 */
export function overlayBitmap(labels, width, height, classes) {
  // Pack RGBA into one 32-bit word per class; ImageData is RGBA in memory, and every
  // platform browsers run on is little-endian, so the word reads 0xAABBGGRR.
  const lut = new Uint32Array(256);
  for (const { id, color: [r, g, b] } of classes) lut[id] = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  const image = new ImageData(width, height);
  const pixels = new Uint32Array(image.data.buffer);
  for (let i = 0; i < labels.length; i++) pixels[i] = lut[labels[i]];
  // premultiplyAlpha 'none': every pixel is opaque anyway; skip the conversion pass.
  return createImageBitmap(image, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
}
