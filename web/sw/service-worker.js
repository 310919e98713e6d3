// SceneSeg's service worker: the whole app works offline after one visit, updates never mix
// versions, and the page is cross-origin isolated (WebAssembly threads) on hosts that cannot send
// the headers themselves.
//
// build.py writes this file to the site's root as sw.js (a service worker controls the folder its
// script is in) and prepends `self.PRECACHE = {version, files, lazy}` ({path: {size, sha256}}):
// `files` is every file of the build but the model weights, whose one home is IndexedDB
// (web/worker/model-cache.js), and but `lazy`: the runtimes of optional backends (WebGPU) and the
// example photos, cached when a visitor's device first uses them.
//
//   install   fetch every file of this build, check its size and sha256, store it in this
//             version's cache. A file that does not match (a deploy half done, a stale HTTP cache
//             entry) is fetched once more past the HTTP cache, then fails the install: a version
//             is cached whole or not at all.
//   waiting   a new version waits until the visitor chooses to switch (the page shows a button,
//             web/app/app-status.js, and posts {type: 'activate-update'}): open tabs never get
//             a mix of old and new files.
//   activate  other versions' caches are deleted.
//   fetch     same-origin GETs come from this version's cache (navigations get index.html); a
//             lazy file is fetched, checked and cached on first use; anything else comes from
//             the network. Every response carries COOP/COEP/CORP. Where the browser has static
//             routes, the build's files (but pages) skip the fetch event (routeToCache).
//   share     a POST to ./share-target (the manifest's share_target: photos shared into the
//             installed app from the system's share sheet) is answered here, online or offline,
//             never by the network: see "Share target" below.

const { version, files, lazy = {} } = self.PRECACHE;
const CACHE = `sceneseg-${version}`;
const SCOPE = self.registration.scope;
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

self.addEventListener('install', (event) => event.waitUntil(Promise.all([precache(), routeToCache(event)])));

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      const old = (n) => n.startsWith('sceneseg-') && n !== CACHE && n !== SHARE_CACHE;
      await Promise.all(names.filter(old).map((n) => caches.delete(n)));
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'activate-update') self.skipWaiting();
  if (event.data?.type === 'version') event.source?.postMessage({ type: 'version', version });
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method === 'POST' && request.url.split(/[?#]/)[0] === SHARE_TARGET) {
    event.respondWith(parkShare(request));
    return;
  }
  if (request.method !== 'GET' || !request.url.startsWith(SCOPE)) return;
  event.respondWith(respond(request));
});

// This version's cache, opened once per service worker start: every request of the workers
// (which the static routes do not reach) then skips one round trip to the browser's cache store.
let versionCache = null;

async function respond(request) {
  versionCache ??= caches.open(CACHE).catch((error) => {
    versionCache = null; // the next request tries again
    throw error;
  });
  const cache = await versionCache;
  let key = request.url.split(/[?#]/)[0];
  if (request.mode === 'navigate' && key.endsWith('/')) key += 'index.html';
  const hit = await cache.match(key);
  if (hit) return hit;
  const path = key.slice(SCOPE.length);
  if (path in lazy) {
    const response = await fetchChecked(path, lazy[path], 'default');
    if (!response) throw new Error(`sw: ${path} does not match build ${version}`);
    await cache.put(key, response.clone());
    return response;
  }
  // Not part of the build's files (model weights, or a path that does not exist): the network.
  const response = await fetch(request);
  return withHeaders(response, response.headers);
}

// ---- Share target ------------------------------------------------------------------------------
// The system's share sheet POSTs the shared photos (multipart/form-data) to ./share-target. Every
// file in the form (whatever its field: the manifest names one, `photos`) is parked in the Cache
// Storage cache SHARE_CACHE under a one-time id, and the answer is a 303 to ./?share=<id>: the
// browser then GETs the app (index.html from this version's cache, isolated as every response
// here is) and the page takes the files (web/app/share/share-intake.js, which also deletes them
// once taken and deletes other ids' leftovers). No network is involved, so it works offline.
//
//   SHARE_CACHE  share/<id>/list   JSON {files: [{name, type, size, lastModified}], error?}
//                share/<id>/<n>    the n-th file's bytes (Content-Type: its type)
//   <id>         <Date.now()>-<8 random hex digits>: the time lets the page tell a leftover from
//                a share another tab is just opening.
// The version's `activate` never deletes this cache; it holds nothing once shares are taken.
const SHARE_CACHE = 'sceneseg-share';
const SHARE_TARGET = new URL('share-target', SCOPE).href;

async function parkShare(request) {
  const id = `${Date.now()}-${crypto.randomUUID().slice(0, 8)}`;
  const cache = await caches.open(SHARE_CACHE);
  const key = (name) => new URL(`share/${id}/${name}`, SCOPE).href;
  const list = { files: [] };
  try {
    const form = await request.formData();
    // A file field left empty still sends a part: no name, no bytes. It is not a file.
    const files = [...form.values()].filter((value) => typeof value !== 'string' && (value.name || value.size));
    for (const [n, file] of files.entries()) {
      await cache.put(key(n), new Response(file, { headers: { 'Content-Type': file.type || 'application/octet-stream' } }));
      list.files.push({ name: file.name, type: file.type, size: file.size, lastModified: file.lastModified });
    }
  } catch (error) {
    // Not a form, or storage full: the page says so instead of showing nothing.
    list.error = `${error.name}: ${error.message}`;
  }
  await cache.put(key('list'), new Response(JSON.stringify(list), { headers: { 'Content-Type': 'application/json' } }));
  // 303: the redirect is followed with a GET (a reload does not POST the photos again).
  return new Response(null, { status: 303, headers: { Location: new URL(`./?share=${id}`, SCOPE).href, ...ISOLATION } });
}

// ---- Precache ----------------------------------------------------------------------------------
async function precache() {
  const cache = await caches.open(CACHE);
  const paths = Object.keys(files);
  let next = 0;
  // Four at a time. The visit that registered this worker has usually just loaded these files,
  // so most come from the browser's HTTP cache.
  const lane = async () => {
    while (next < paths.length) {
      const path = paths[next++];
      const key = new URL(path, SCOPE).href;
      if (await cache.match(key)) continue; // an interrupted install, resumed
      const expected = files[path];
      const response = (await fetchChecked(path, expected, 'default')) ?? (await fetchChecked(path, expected, 'reload'));
      if (!response) throw new Error(`sw: ${path} does not match build ${version}`);
      await cache.put(key, response);
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
}

/**
 * Static routes (Chrome 123+: InstallEvent.addRoutes): a request for one of the build's files
 * (no query string; pages excluded) is answered by the browser straight from this version's
 * cache, with no fetch event. Chromium applies them to the page's own requests (~30 in a
 * start), not to its workers' (measured: those still come as fetch events). Pages (a
 * navigation to the folder is index.html), lazy files, weights and anything with a query go
 * through the fetch handler as before; where the API is missing, everything does. Measured,
 * interleaved, 10 reloads each: ready 731 vs 752 ms, first labels 1395 vs 1442 ms; 6
 * relaunches: 1278 vs 1314 ms, 2444 vs 2720 ms.
 */
async function routeToCache(event) {
  if (typeof event.addRoutes !== 'function') return;
  const base = new URL(SCOPE).pathname;
  const literal = (path) => path.replace(/[:*()+?{}\\]/g, '\\$&'); // URLPattern syntax
  const routes = Object.keys(files)
    .filter((path) => !path.endsWith('.html'))
    .map((path) => ({
      condition: { urlPattern: new URLPattern({ pathname: base + literal(path), search: '' }) },
      source: { cacheName: CACHE },
    }));
  try {
    await event.addRoutes(routes);
  } catch (error) {
    console.warn(`sw: no static routes (${error.message}); the fetch handler serves every file`);
  }
}

/** The file as this build lists it, ready to cache, or null if the server sent other bytes. */
async function fetchChecked(path, expected, cacheMode) {
  const response = await fetch(new URL(path, SCOPE), { cache: cacheMode });
  if (!response.ok) return null;
  const body = await response.arrayBuffer();
  if (body.byteLength !== expected.size || (await sha256(body)) !== expected.sha256) return null;
  const type = response.headers.get('Content-Type');
  return withHeaders(new Response(body), type ? { 'Content-Type': type } : {});
}

function withHeaders(response, headers) {
  const merged = new Headers(headers);
  for (const [name, value] of Object.entries(ISOLATION)) merged.set(name, value);
  merged.set('X-SceneSeg-Version', version);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers: merged });
}

async function sha256(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
