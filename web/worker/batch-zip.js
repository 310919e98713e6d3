// Batches in the worker: each photo is segmented and its files appended to one zip at once
// (sceneseg.batch_zip), so only one full-resolution result exists at a time. The zip goes to
// a file in the origin-private file system (OPFS, on disk) where the browser has one, else
// to Pyodide's in-memory file system. The requests 'batch-start', 'batch-add', 'batch-finish'
// and 'batch-cancel' (fields and replies: lib/engine-protocol.js); each returns its reply's
// {value, transfer?} to segment-worker.js, which posts it.
import { overlayBitmap } from './overlay-image.js';

const PREFIX = 'sceneseg-batch-';
let opfs = null; // {handle (sync access), name} of the zip being written

async function openOpfs() {
  try {
    const root = await navigator.storage.getDirectory();
    // Zips of earlier batches: their downloads are long done (or the page was closed).
    for await (const name of root.keys()) {
      if (name.startsWith(PREFIX)) await root.removeEntry(name).catch(() => {});
    }
    const name = `${PREFIX}${Date.now()}.zip`;
    const file = await root.getFileHandle(name, { create: true });
    return { root, file, name, handle: await file.createSyncAccessHandle() };
  } catch {
    return null; // no OPFS here (or no sync access): the zip is built in memory
  }
}

export async function batchMessage(message, { py }) {
  const batch = py.pyimport('sceneseg.batch_zip');
  const reply = (value, transfer = []) => ({ value, transfer });
  switch (message.type) {
    case 'batch-start': {
      closeOpfs();
      batch.cancel();
      opfs = await openOpfs();
      return reply(batch.start(opfs?.handle ?? null));
    }
    case 'batch-add': {
      const bytes = new Uint8Array(await message.file.arrayBuffer());
      const proxy = await batch.add(bytes, message.name);
      const value = proxy.toJs({ dict_converter: Object.fromEntries });
      proxy.destroy();
      if (value.error) return reply({ error: value.error });
      // The page keeps one small PNG per photo for browsing, not a bitmap: flat memory.
      const bitmap = await overlayBitmap(value.thumb, value.thumbWidth, value.thumbHeight, value.classes);
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      canvas.getContext('bitmaprenderer').transferFromImageBitmap(bitmap);
      value.thumb = await canvas.convertToBlob({ type: 'image/png' });
      return reply(value);
    }
    case 'batch-finish': {
      const data = batch.finish();
      if (opfs) {
        opfs.handle.close();
        const file = opfs.file;
        opfs = null;
        return reply(await file.getFile()); // disk-backed: never read into memory here
      }
      const bytes = data.toJs();
      data.destroy();
      return reply(new Blob([bytes], { type: 'application/zip' }));
    }
    default: {
      // 'batch-cancel'
      batch.cancel();
      const old = opfs;
      closeOpfs();
      if (old) await old.root.removeEntry(old.name).catch(() => {});
      return reply(true);
    }
  }
}

function closeOpfs() {
  try {
    opfs?.handle.close();
  } catch {}
  opfs = null;
}
