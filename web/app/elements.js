// The page's elements by id, each named in camelCase: ['progress-fill'] -> {progressFill}.

/** @param {string[]} ids */
export function elementsById(ids) {
  return Object.fromEntries(ids.map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), document.getElementById(id)]));
}
