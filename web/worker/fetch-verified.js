// Fetch a file with byte progress and check its size and sha256 before anyone uses it.

/**
 * @param {string|URL} url
 * @param {{size?: number, sha256?: string}} expected
 * @param {(loaded: number, total: number) => void} [onBytes]
 * @param {(data: Uint8Array) => Promise<string>} [sha256]  hex digest; Web Crypto by default
 * @returns {Promise<Uint8Array>}
 */
export async function fetchVerified(url, expected = {}, onBytes = () => {}, sha256 = webCryptoSha256) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const total = expected.size ?? Number(response.headers.get('Content-Length'));
  const chunks = [];
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onBytes(loaded, total);
  }
  if (expected.size !== undefined && loaded !== expected.size) {
    throw new Error(`${url}: got ${loaded} bytes, expected ${expected.size}`);
  }
  const data = new Uint8Array(loaded);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  if (expected.sha256) {
    const digest = await sha256(data);
    if (digest !== expected.sha256) throw new Error(`${url}: sha256 ${digest}, expected ${expected.sha256}`);
  }
  return data;
}

/** Web Crypto's SHA-256, which exists only in secure contexts (https, localhost). */
export const hasWebCrypto = Boolean(globalThis.crypto?.subtle);

export async function webCryptoSha256(data) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
