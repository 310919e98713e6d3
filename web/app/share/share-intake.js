// Ways in from outside the page, in the installed app:
//   share      photos shared into SceneSeg from the system's share sheet (the manifest's
//              share_target). The service worker parks them in Cache Storage under a one-time id
//              and sends the page to ./?share=<id> (web/sw/service-worker.js, "Share target");
//              here they are taken, deleted, and the URL is cleaned.
//   open with  files opened with SceneSeg from a file manager (the manifest's file_handlers):
//              window.launchQueue hands them over; with launch_handler focus-existing a second
//              file comes to the window already open, so no second engine starts.
// Both open as a pick does (`open`, main.js's routing): one photo in the Photo view, several in
// Batch. What the app cannot read is said in #error, naming the files; the app keeps working.
// Browsers without either (Firefox, Safari) never get here: their users pick files (docs/platforms.md).

// The service worker's cache of parked shares (web/sw/service-worker.js: SHARE_CACHE).
export const SHARE_CACHE = 'sceneseg-share';
// A parked share older than this, not this page's, is a leftover (its tab closed before taking
// it, or it crashed): deleted at start. Younger ones may belong to a tab that is opening now.
const LEFTOVER_MS = 60_000;

/**
 * @param {{open: (files: File[]) => unknown, showError: (message: string) => void,
 *          announce?: (message: string) => void}} app
 * @returns {Promise<void>} settles once a share in the URL (if any) is taken and leftovers are gone
 */
export function setupShareIntake({ open, showError, announce = () => {} }) {
  const receive = async (files, how) => {
    if (!files.length) {
      showError(`Nothing to open: the ${how === 'shared' ? 'share' : 'launch'} held no file. Share a photo (JPEG, PNG, WebP, GIF, BMP or TIFF).`);
      return;
    }
    const { usable, refused } = await sortFiles(files);
    if (usable.length) {
      announce(`${usable.length === 1 ? usable[0].name : `${usable.length} photos`} ${how}.`);
      open(usable);
    }
    // After open(): a photo's run clears #error as it starts.
    if (refused.length) showError(refusedMessage(usable, refused, how));
  };

  // Opened with SceneSeg (file handlers). Launches with no file (the app's icon) bring none.
  if ('launchQueue' in window) {
    window.launchQueue.setConsumer(async (params) => {
      const handles = params.files ?? [];
      if (!handles.length) return;
      try {
        // The consumer may be called at once: main.js has finished its module body by the
        // time the files are read.
        const files = await Promise.all(handles.filter((h) => h.kind === 'file').map((h) => h.getFile()));
        await receive(files, 'opened');
      } catch (error) {
        showError(`Could not open the file: ${error.message}`);
      }
    });
  }

  // Shared into SceneSeg (share target): ./?share=<id>.
  const params = new URLSearchParams(location.search);
  const id = params.get('share');
  if (id !== null) {
    // Taken once: a reload, Back or a bookmark must not look for it again.
    params.delete('share');
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }
  if (!('caches' in window)) return Promise.resolve(); // not a secure context: no service worker, no shares
  return (async () => {
    try {
      const cache = await caches.open(SHARE_CACHE);
      if (id !== null) {
        const shared = await takeShare(cache, id);
        if (shared.error && !shared.files.length) showError(`The shared photos could not be received: ${shared.error}`);
        else if (shared.missing) showError('The shared photos were not found: they were opened already or cleared by the browser. Share them again.');
        else await receive(shared.files, 'shared');
      }
      await deleteLeftovers(cache, id);
    } catch (error) {
      showError(`Could not open the shared photos: ${error.message}`);
    }
  })();
}

/** The files parked under `id`, as Files, deleted from the cache once read. */
async function takeShare(cache, id) {
  const key = (name) => new URL(`share/${id}/${name}`, location.href).href;
  const listed = await cache.match(key('list'));
  if (!listed) return { files: [], missing: true };
  const list = await listed.json();
  const files = [];
  for (const [n, entry] of list.files.entries()) {
    const response = await cache.match(key(n));
    if (!response) continue;
    files.push(new File([await response.blob()], entry.name, { type: entry.type, lastModified: entry.lastModified }));
  }
  // Taken: the page holds the bytes now (Files in memory); the parked copies go.
  await Promise.all((await cache.keys()).filter((r) => r.url.startsWith(key(''))).map((r) => cache.delete(r)));
  return { files, error: list.error };
}

/** Parked shares that are not this page's and older than LEFTOVER_MS. */
async function deleteLeftovers(cache, id) {
  const now = Date.now();
  const stale = (await cache.keys()).filter((request) => {
    const parked = /\/share\/([^/]+)\//.exec(new URL(request.url).pathname)?.[1];
    if (parked === undefined || parked === id) return parked === undefined; // not a share's: not ours to keep
    const time = Number(parked.split('-')[0]);
    return !(now - time < LEFTOVER_MS); // NaN (a malformed id) counts as old
  });
  await Promise.all(stale.map((request) => cache.delete(request)));
}

// ---- what the app reads ---------------------------------------------------------------------

/** The types the manifest's file_handlers list (the share target lists the same): one source. */
let accepted = null;
function acceptedTypes() {
  accepted ??= (async () => {
    const link = document.querySelector('link[rel=manifest]');
    const manifest = await (await fetch(link.href)).json();
    const accept = manifest.file_handlers[0].accept; // {mime: [extensions]}
    return { types: new Set(Object.keys(accept)), extensions: new Set(Object.values(accept).flat()) };
  })();
  accepted.catch(() => (accepted = null)); // try again next time
  return accepted;
}

async function sortFiles(files) {
  let readable;
  try {
    const { types, extensions } = await acceptedTypes();
    // The type the sender gave wins; a file without one (or a generic one) by its extension.
    readable = (f) => types.has(f.type) || ((!f.type || f.type === 'application/octet-stream') && extensions.has(extension(f.name)));
  } catch {
    readable = () => true; // no manifest to read: the engine says which files it cannot read
  }
  return { usable: files.filter(readable), refused: files.filter((f) => !readable(f)) };
}

const extension = (name) => (/\.[^./]+$/.exec(name)?.[0] ?? '').toLowerCase();

function refusedMessage(usable, refused, how) {
  const names = refused.map((f) => `${f.name || 'a file'} (${why(f)})`).join(', ');
  const reads = 'SceneSeg reads JPEG, PNG, WebP, GIF, BMP and TIFF photos.';
  if (usable.length) return `Not opened: ${names}. ${reads}`;
  return `Nothing to open: the ${how === 'shared' ? 'share' : 'launch'} held no photo SceneSeg can read: ${names}. ${reads}`;
}

function why(file) {
  const kind = `${file.type} ${extension(file.name)}`;
  if (/heic|heif/i.test(kind)) return "HEIC/HEIF, the iPhone's default format: share or export it as JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible)";
  if (/avif/i.test(kind)) return 'AVIF: save it as JPEG or PNG';
  return file.type ? `${file.type}, not a photo format` : 'not a photo format';
}
