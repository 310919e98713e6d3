// Example host: embed the widget, wait for 'ready', send a photo, read the answer.
// ?widget=URL points at the widget (default: ./embed.html on this site).
const widgetUrl = new URL(new URLSearchParams(location.search).get('widget') || 'embed.html', location.href);
const iframe = document.getElementById('widget');
const status = document.getElementById('host-status');
const log = document.getElementById('host-log');
window.widgetMessages = []; // for tests and the curious

window.addEventListener('message', (event) => {
  if (event.origin !== widgetUrl.origin || event.source !== iframe.contentWindow) return;
  const message = event.data;
  window.widgetMessages.push(message);
  const item = document.createElement('li');
  if (message.type === 'result') {
    const top = message.summary.classes.slice(0, 3).map((c) => `${c.name} ${(c.fraction * 100).toFixed(1)}%`);
    item.textContent = `result ${message.id}: ${message.width}×${message.height}, ${message.labels.length} labels; ${top.join(', ')}`;
    status.textContent = 'Done.';
  } else {
    item.textContent = `${message.type}${message.id !== undefined ? ` ${message.id}` : ''}: ${message.message ?? message.backend ?? ''}`;
    if (message.type === 'ready') status.textContent = 'Widget ready.';
  }
  log.append(item);
});

iframe.src = widgetUrl.href;

let nextId = 1;
document.getElementById('host-file').addEventListener('change', (event) => {
  const [file] = event.target.files;
  if (!file) return;
  const id = `photo-${nextId++}`;
  status.textContent = `Sent ${file.name} as ${id}…`;
  // Never '*': the photo goes to the widget's origin only.
  iframe.contentWindow.postMessage({ type: 'segment', id, image: file, options: { overlay: true } }, widgetUrl.origin);
});
