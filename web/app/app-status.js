// The app as an installed, offline-capable site: registers the service worker (web/sw/), offers a
// new version when one is ready, and shows what is stored on this device (the model in
// IndexedDB) with a control to clear it.

/**
 * @param {HTMLElement} element  where the status line goes
 * @param {{cachedModels: () => Promise<object[]>, clearCachedModels: () => Promise<object[]>}} segmenter
 * @param {object} info  the engine's ready info (cache state, threads, isolation)
 */
export function showAppStatus(element, segmenter, info) {
  const offline = document.createElement('span');
  const storage = document.createElement('span');
  const clear = document.createElement('button');
  clear.type = 'button';
  clear.className = 'link-button';
  clear.id = 'clear-cache';
  clear.textContent = 'Clear cached model';
  const update = document.createElement('span');
  update.id = 'update';
  update.hidden = true;

  const refreshStorage = async () => {
    if (!info.cache.on) {
      storage.textContent = `Caching is off (${info.cache.note ?? 'storage unavailable'}): the model is downloaded on each visit.`;
      clear.hidden = true;
      return;
    }
    try {
      const entries = await segmenter.cachedModels();
      const bytes = entries.reduce((sum, e) => sum + e.size, 0);
      storage.textContent = entries.length
        ? `Model stored on this device: ${(bytes / 1e6).toFixed(1)} MB.`
        : 'No model stored on this device; the next visit downloads it.';
      element.dataset.cachedBytes = String(bytes);
      clear.hidden = entries.length === 0;
    } catch (error) {
      storage.textContent = `Could not read the model cache: ${error.message}`;
      clear.hidden = true;
    }
  };
  clear.addEventListener('click', async () => {
    clear.disabled = true;
    try {
      await segmenter.clearCachedModels();
    } finally {
      clear.disabled = false;
      await refreshStorage();
    }
  });
  // Ask the browser not to evict the model under storage pressure (granted silently to
  // installed apps and often-visited sites; a refusal changes nothing).
  if (info.cache.on) navigator.storage?.persist?.().catch(() => {});

  // Shown in one go once both are known, into room the layout keeps for it: nothing moves.
  Promise.all([refreshStorage(), registerServiceWorker(offline, update)]).then(() => {
    element.replaceChildren(offline, storage, clear, update);
    element.hidden = false;
  });
}

async function registerServiceWorker(offline, update) {
  // Service workers exist only in secure contexts (https, localhost): elsewhere the app still
  // works, online, and says so.
  if (!('serviceWorker' in navigator)) {
    offline.textContent = 'Offline use needs https.';
    return;
  }
  let registration;
  try {
    registration = await navigator.serviceWorker.register(new URL('../sw.js', import.meta.url));
  } catch (error) {
    offline.textContent = `Offline use is unavailable: ${error.message}`;
    return;
  }
  if (!registration) {
    // Service workers blocked (a browser policy or setting): the app works online only.
    offline.textContent = 'Offline use is unavailable in this browser.';
    return;
  }
  const ready = () => {
    offline.textContent = 'Works offline.';
    document.body.dataset.offlineReady = 'true';
  };

  // A new version installs in the background and waits; the visitor decides when to switch.
  const offer = (waiting) => {
    update.hidden = false;
    update.replaceChildren(document.createTextNode('A new version is ready. '));
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'link-button';
    button.textContent = 'Update now';
    button.addEventListener('click', () => {
      // Reload once the new version has taken over (not before: no mix of old and new files).
      navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
      waiting.postMessage({ type: 'activate-update' });
    });
    update.append(button);
    document.body.dataset.updateReady = 'true';
  };
  const watch = (worker) => {
    worker.addEventListener('statechange', () => {
      if (worker.state === 'installed' && navigator.serviceWorker.controller) offer(worker);
    });
  };
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  if (registration.installing) watch(registration.installing);
  registration.addEventListener('updatefound', () => watch(registration.installing));
  // Resolves once this version is cached whole (at once on return visits), or its install failed
  // (no room to store the app, for one).
  if (registration.active) return ready();
  const installing = registration.installing ?? registration.waiting;
  const failed = new Promise((resolve) =>
    installing?.addEventListener('statechange', () => installing.state === 'redundant' && resolve()),
  );
  const outcome = await Promise.race([navigator.serviceWorker.ready.then(() => 'ready'), failed.then(() => 'failed')]);
  if (outcome === 'ready') ready();
  else offline.textContent = 'Offline use is unavailable: the app could not be stored on this device.';
}
