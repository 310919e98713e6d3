// Fetch a file with byte progress and check its size and sha256 before anyone uses it.

/**
 * @param {string|URL} url
 * @param {{size?: number, sha256?: string}} expected
 * @param {(loaded: number, total: number) => void} [onBytes]
 * @returns {Promise<Uint8Array>}
 */
export async function fetchVerified(url, expected = {}, onBytes = () => {}) {
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
    // crypto.subtle exists only in secure contexts (https, localhost).
    if (!globalThis.crypto?.subtle) {
      console.warn(`${url}: not a secure context, sha256 not checked`);
    } else {
      const digest = hex(await crypto.subtle.digest('SHA-256', data));
      if (digest !== expected.sha256) throw new Error(`${url}: sha256 ${digest}, expected ${expected.sha256}`);
    }
  }
  return data;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}
