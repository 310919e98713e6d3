// Pyodide with numpy, Pillow and the sceneseg package, all from this site's own origin.
import { loadPyodide } from '../vendor/pyodide/pyodide.mjs';

const PYODIDE_DIR = new URL('../vendor/pyodide/', import.meta.url).href;

/** @param {(message: string) => void} onStep */
export async function startPython(onStep) {
  onStep('Starting Python (Pyodide)');
  const pyodide = await loadPyodide({ indexURL: PYODIDE_DIR, fullStdLib: false });
  onStep('Loading numpy, Pillow and sceneseg');
  // The shipped pyodide-lock.json lists sceneseg with its dependencies and every wheel's sha256.
  await pyodide.loadPackage('sceneseg', { messageCallback: () => {}, errorCallback: console.error, checkIntegrity: true });
  return pyodide;
}
