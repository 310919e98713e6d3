// How many pixels a shown photo keeps: a 12 MP result drawn at full resolution holds two 46 MB
// bitmaps and the compositor's two 46 MB copies, to show ~1 MP on screen. The page keeps the
// screen's resolution (the display scale) until the visitor zooms in past it
// (app/photo-view.js); the paint worker draws the photo and overlay at that scale.

/** The canvas size of a width x height image drawn at `scale` (0 < scale <= 1). */
export function displaySize(width, height, scale) {
  if (scale >= 1) return { width, height };
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * The scale at which a width x height image has as many pixels as a box of boxWidth x
 * boxHeight CSS pixels shows at `pixelRatio` (devicePixelRatio), whichever way it is turned;
 * 1 for an image no bigger than that.
 */
export function screenScale(boxWidth, boxHeight, pixelRatio, width, height) {
  const screen = Math.max(boxWidth, boxHeight, 1) * pixelRatio;
  return Math.min(1, screen / Math.max(width, height, 1));
}
