"""The app-page driver: the app in one tab, driven only through its automation hooks
(input#file, body[data-ready], body[data-result], body[data-busy], #error, #download-labels,
#timings), the way a person uses it."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image


class AppPage:
    """The app in one tab, driven the way a person uses it."""

    def __init__(self, page, url: str):
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        self.results = 0

    def upload(self, path: Path, timeout: float = 120_000) -> None:
        """Pick a file and wait until the page has shown its result."""
        self.page.set_input_files("#file", str(path))
        self.results += 1
        self.page.wait_for_selector(f"body[data-result='{self.results}']", timeout=timeout)

    def upload_bad(self, path: Path) -> str:
        """Pick a file the app must refuse; returns the error shown."""
        self.page.locator("#error").evaluate("e => { e.hidden = true; e.textContent = ''; }")
        self.page.set_input_files("#file", str(path))
        self.page.wait_for_selector("#error:not([hidden])", timeout=60_000)
        self.page.wait_for_selector("body:not([data-busy])")
        return self.page.inner_text("#error")

    def download_labels(self, dest: Path) -> Path:
        self.page.wait_for_selector("#download-labels[aria-disabled=false]")
        with self.page.expect_download() as download:
            self.page.click("#download-labels")
        download.value.save_as(dest)
        return dest

    def timings(self) -> dict:
        return json.loads(self.page.get_attribute("#timings", "data-timings"))


def open_app(browser, url: str, **context_options) -> AppPage:
    """The app in the tab of a new context (an empty profile); close it with the context."""
    context = browser.new_context(accept_downloads=True, **context_options)
    return AppPage(context.new_page(), url)


def canvas_pixels(page, selector: str) -> np.ndarray:
    """What a canvas on the page shows, RGBA at its own resolution (read back through a 2D
    canvas as a PNG, since the page's canvases are 'bitmaprenderer' ones)."""
    data_url = page.locator(selector).evaluate(
        """src => {
            const copy = document.createElement('canvas');
            copy.width = src.width; copy.height = src.height;
            copy.getContext('2d').drawImage(src, 0, 0);
            return copy.toDataURL('image/png');
        }"""
    )
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


# A page's bytes for the test, as one base64 string: a JS function of a typed array. Playwright
# sends an Array.from()'d array as JSON, one number at a time (seconds for one label map).
BYTES_AS_BASE64 = """(bytes) => {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}"""


def bytes_from_base64(text: str) -> np.ndarray:
    """BYTES_AS_BASE64's string back as uint8 values."""
    return np.frombuffer(base64.b64decode(text), np.uint8)


# Python's stored start-up snapshot as the page sees it (web/worker/python-snapshot-store.js:
# the file 'python-snapshot' in the origin private file system, a JSON header, then the
# snapshot): null, or {key, size} from its header. Also null while the worker holds the file
# (storing it): ask again.
STORED_SNAPSHOT = """async () => {
  try {
    const root = await navigator.storage.getDirectory();
    const file = await (await root.getFileHandle('python-snapshot')).getFile();
    const bytes = new Uint8Array(await file.arrayBuffer());
    const length = new DataView(bytes.buffer).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
    return { key: header.key, size: header.size };
  } catch {
    return null;
  }
}"""
