"""The engine protocol (web/lib/engine-protocol.js) on the wire, in the built site: every
request gets exactly one final message, no file of a photo is encoded before it is asked for,
and result.labelsPng is the same file as segmenter.export('labels-png'), made on request."""

from __future__ import annotations

import base64
import io
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, ROOT, AppPage, ade_labels, node_json
from sceneseg.outputs import SHARES_COLUMNS

pytestmark = pytest.mark.browser

PNGS = [p for p in PHOTOS if p.suffix == ".png"]

# Records, before the page's scripts run, every message between the page and each engine
# worker (not the paint worker): what was sent, what came back.
RECORD_WIRE = """
(() => {
  const Native = window.Worker;
  const wire = (window.__wire = []);
  let workers = 0;
  // overlay: a segment request's option, or what its reply carries ('bitmap' or null).
  const overlay = (m) => m?.overlay === false ? false
    : typeof m?.value === 'object' && m.value !== null && 'overlay' in m.value
      ? (m.value.overlay ? 'bitmap' : null) : undefined;
  const note = (w, way, m) => wire.push({ w, way, type: m?.type, id: m?.id ?? null,
    kind: m?.kind ?? null, stage: m?.stage ?? null, photo: m?.photo ?? null, overlay: overlay(m) });
  window.Worker = class extends Native {
    constructor(url, ...rest) {
      super(url, ...rest);
      this.__engine = String(url).includes('segment-worker') ? ++workers : 0;
      const w = this.__engine;
      if (w) this.addEventListener('message', ({ data }) => note(w, 'in', data));
    }
    postMessage(message, ...rest) {
      if (this.__engine) note(this.__engine, 'out', message);
      return super.postMessage(message, ...rest);
    }
  };
})();
"""


def protocol_names() -> dict[str, list[str]]:
    """The message names the protocol module lists (it is the reference), read by Node."""
    script = (
        "const p = await import(process.argv[1]);"
        "console.log(JSON.stringify({requests: Object.keys(p.REQUESTS),"
        " notices: Object.keys(p.NOTICES), events: Object.keys(p.EVENTS),"
        " finals: Object.keys(p.FINAL)}));"
    )
    module = (ROOT / "web" / "lib" / "engine-protocol.js").as_uri()
    return node_json(script, module)


def test_the_architecture_page_lists_every_message():
    """docs/architecture.md's protocol table names exactly the module's messages."""
    names = protocol_names()
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text.split("## The worker's messages", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([\w-]+)` \|", table, re.M))
    expected = {n for group in names.values() for n in group}
    assert listed == expected


def finals_per_request(wire) -> dict[tuple[int, int], list[str]]:
    """(worker, request id) -> the final messages ('reply'/'error') it got."""
    names = protocol_names()
    sent = {(m["w"], m["id"]) for m in wire if m["way"] == "out" and m["type"] in names["requests"]}
    finals: dict[tuple[int, int], list[str]] = {key: [] for key in sent}
    for m in wire:
        if m["way"] == "in" and m["type"] in ("reply", "error"):
            finals.setdefault((m["w"], m["id"]), []).append(m["type"])
    return finals


def assert_one_final_each(wire):
    finals = finals_per_request(wire)
    assert finals, "no requests recorded"
    wrong = {key: got for key, got in finals.items() if len(got) != 1}
    assert wrong == {}, f"requests without exactly one final message: {wrong}"


@pytest.fixture(scope="module")
def wired(app_context, site_url) -> AppPage:
    page = app_context.new_page()
    page.add_init_script(RECORD_WIRE)
    yield AppPage(page, site_url)
    page.close()


def sent(page, **match) -> list[dict]:
    wire = page.evaluate("window.__wire")
    return [
        m
        for m in wire
        if m["way"] == "out" and m["w"] == 1 and all(m[k] == v for k, v in match.items())
    ]


def test_the_app_asks_for_no_overlay_and_gets_none(wired):
    # The page paints the overlay itself at the screen's size (app/photo-view.js): the engine
    # makes none for it (segment(file, {overlay: false})), so no full-size bitmap is made and
    # thrown away. The API's default still makes one (test_widget).
    page = wired.page
    wired.upload(PNGS[0])
    request = sent(page, type="segment")[-1]
    assert request["overlay"] is False
    wire = page.evaluate("window.__wire")
    replies = [m for m in wire if m["way"] == "in" and m["type"] == "reply"]
    (reply,) = [m for m in replies if m["id"] == request["id"]]
    assert reply["overlay"] is None


def test_no_file_is_made_before_a_click(wired):
    page = wired.page
    wired.upload(PNGS[0])
    # The confidence map has come, the view is idle: still no export asked of the worker.
    page.wait_for_selector("body[data-confidence=ready]", timeout=60_000)
    page.wait_for_timeout(1000)
    assert sent(page, type="export") == []
    # (cache: the app's status line lists the stored model files; plan: the resolution
    # setting's cost per mode, sizes only, no file.)
    assert {m["type"] for m in sent(page)} - {"cache", "plan"} == {"init", "segment", "confidence"}
    # No label PNG comes unasked either: every message in is an event or a final message.
    names = protocol_names()
    got = {m["type"] for m in page.evaluate("window.__wire") if m["way"] == "in"}
    assert got <= {*names["events"], *names["finals"]}
    # The label map control is live, with nothing behind it yet.
    assert page.get_attribute("#download-labels", "aria-disabled") == "false"
    assert page.get_attribute("#download-labels", "href") is None
    # A click: one export request, and a real download of the label map.
    with page.expect_download() as download:
        page.click("#download-labels")
    labels = np.asarray(Image.open(download.value.path()))
    assert labels.shape == np.asarray(Image.open(PNGS[0])).shape[:2]
    assert [m["kind"] for m in sent(page, type="export")] == ["labels-png"]
    assert sent(page, type="export")[0]["photo"] == sent(page, type="segment")[-1]["id"]
    with page.expect_download():
        page.click("#download-summary")
    assert [m["kind"] for m in sent(page, type="export")] == ["labels-png", "summary-json"]
    # The keyboard reaches the label map control too: Enter makes and saves it.
    page.focus("#download-labels")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == f"{PNGS[0].stem}-labels.png"
    assert_one_final_each(page.evaluate("window.__wire"))


# The library in the page: labelsPng on demand, stale results, and one request of each kind
# (cancelled ones and a replaced video frame included) on a segmenter of its own (worker 2).
LIBRARY = """async ([a, b]) => {
  const { createSegmenter, StaleResultError } = await import('./lib/sceneseg.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = (b64, name) => new File([bytes(b64)], name, { type: 'image/png' });
  const b64 = (data) => {
    let t = '';
    for (const x of data) t += String.fromCharCode(x);
    return btoa(t);
  };
  const mine = (m) => m.w === 2 && m.way === 'out' && m.type === 'export';
  const exports = () => window.__wire.filter(mine).length;
  const s = createSegmenter();
  await s.ready;
  const out = {};
  const first = await s.segment(file(a, 'a.png'));
  const kept = { ...first, copy: [first] }; // spreading and storing ask for nothing
  await new Promise((r) => setTimeout(r, 300));
  out.exportsBeforeAwait = exports();
  const second = await s.segment(file(b, 'b.png'));
  try { await kept.labelsPng; out.stale = 'resolved'; }
  catch (e) {
    out.stale = { name: e.name, message: e.message, typed: e instanceof StaleResultError };
  }
  const fromThen = await second.labelsPng;
  const again = await second.labelsPng; // kept: not asked again
  out.exportsAfterTwoAwaits = exports();
  const fromExport = await s.export('labels-png');
  out.png = b64(new Uint8Array(await fromThen.arrayBuffer()));
  const exported = b64(new Uint8Array(await fromExport.arrayBuffer()));
  out.samePng = out.png === exported && fromThen === again;
  out.labels = b64(second.labels);
  out.size = [second.width, second.height];
  // One of each other request: a cancelled photo (and its confidence), a confidence map, a
  // replaced video frame, the cache, a batch, class shares.
  const abort = new AbortController();
  const dropped = s.segment(file(a, 'a.png'), { signal: abort.signal, confidence: 'after' });
  abort.abort(new Error('moved on'));
  out.aborted = await dropped.then(() => 'resolved', (e) => e.message);
  const third = await s.segment(file(b, 'b.png'), { confidence: 'after' });
  const later = await third.laterConfidence;
  out.confidence = later && later.confidence.length === third.width * third.height;
  const grey = () => new ImageData(new Uint8ClampedArray(64 * 64 * 4).fill(128), 64, 64);
  const size = { inputWidth: 64, inputHeight: 64 };
  const bitmaps = await Promise.all([1, 2, 3].map(() => createImageBitmap(grey())));
  const frames = await Promise.all(bitmaps.map((bitmap) => s.segmentFrame(bitmap, size)));
  out.frames = frames.map((f) => (f === null ? null : f.labels.length));
  out.cache = (await s.cachedModels()).length;
  await s.batch.start();
  await s.batch.add(file(a, 'a.png'));
  await s.batch.cancel();
  const row = { photo: 'clip#t=0.000', width: 2, height: 1, classes: [{ id: 3, pixels: 2 }] };
  const shares = await s.classShares('csv', [row])
    .then((blob) => blob.text(), (e) => `error: ${e.message}`);
  out.shares = shares;
  await new Promise((r) => setTimeout(r, 1500)); // anything late would show now
  s.dispose();
  return out;
}"""


def test_labels_png_on_request_stale_results_and_one_final_each(wired):
    page = wired.page
    photos = [base64.b64encode(p.read_bytes()).decode() for p in PNGS[:2]]
    out = page.evaluate(LIBRARY, photos)
    assert out["exportsBeforeAwait"] == 0
    # The first result is no longer the worker's latest: a clear, typed refusal.
    assert out["stale"]["name"] == "StaleResultError" and out["stale"]["typed"]
    assert "no longer held" in out["stale"]["message"]
    # Awaiting labelsPng asked once (the second await reuses it); same bytes as export().
    assert out["exportsAfterTwoAwaits"] == 2  # the stale one's refused request, and this one
    assert out["samePng"]
    width, height = out["size"]
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(out["png"]))))
    labels = np.frombuffer(base64.b64decode(out["labels"]), np.uint8).reshape(height, width)
    np.testing.assert_array_equal(png, labels)
    assert out["aborted"] == "moved on"
    assert out["confidence"] is True
    assert out["frames"][-1] == 64 * 64
    assert out["cache"] >= 1
    # Class shares (the video's request), written by Python in the batches' layout.
    assert out["shares"].splitlines() == [
        ",".join(SHARES_COLUMNS),
        f"clip#t=0.000,2,1,3,{ade_labels()[3]},2,1.000000",
    ]
    wire = [m for m in page.evaluate("window.__wire") if m["w"] == 2]
    types = Counter(m["type"] for m in wire if m["way"] == "out")
    for kind in ("segment", "confidence", "export", "cancel", "frame", "cache", "shares"):
        assert types[kind] >= 1, (kind, types)
    assert types["batch-start"] == types["batch-add"] == types["batch-cancel"] == 1
    # The cancelled photo and its confidence request got their final message too (the photo's
    # says it was cancelled; the confidence request's is that or null, by the cancel's timing).
    cancelled = sorted({m["id"] for m in wire if m["way"] == "out" and m["type"] == "cancel"})
    kinds = {m["id"]: m["kind"] for m in wire if m["way"] == "in" and m["type"] == "error"}
    assert len(cancelled) == 2 and kinds.get(cancelled[0]) == "cancelled", kinds
    assert_one_final_each(wire)
