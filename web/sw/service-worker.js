// SceneSeg's service worker: the whole app works offline after one visit, updates never mix
// versions, and the page is cross-origin isolated (WebAssembly threads) on hosts that cannot send
// the headers themselves.
//
// build.py writes this file to the site's root as sw.js (a service worker controls the folder its
// script is in) and prepends `self.PRECACHE = {version, files, lazy}` ({path: {size, sha256}}):
// `files` is every file of the build but the model weights, whose one home is IndexedDB
// (web/worker/model-cache.js), and but `lazy`, the runtimes of optional backends (WebGPU), which
// are cached when a visitor's device first uses them.
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
//             the network. Every response carries COOP/COEP/CORP.

const { version, files, lazy = {} } = self.PRECACHE;
const CACHE = `sceneseg-${version}`;
const SCOPE = self.registration.scope;
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

self.addEventListener('install', (event) => event.waitUntil(precache()));

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith('sceneseg-') && n !== CACHE).map((n) => caches.delete(n)));
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
  if (request.method !== 'GET' || !request.url.startsWith(SCOPE)) return;
  event.respondWith(respond(request));
});

async function respond(request) {
  const cache = await caches.open(CACHE);
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
