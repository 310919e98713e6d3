#!/usr/bin/env python3
"""SceneSeg against its peer, transformers.js, side by side in one Chromium session.

    .venv/bin/python bench/peer.py --site DIST [--repeat N] [--out DIR] [--startup-only]

The peer is transformers.js 4.3.1 (`@huggingface/transformers`, an npm devDependency) running
`pipeline('image-segmentation')` on the same stand-in model files (q8), device 'wasm', with
SceneSeg's thread count, every file served from localhost (bench/peer/ is its page). Both
sites are served by build.py's Handler (COOP/COEP: cross-origin isolated, gzip), each on its
own port (its own origin, so its own storage), and a server-side log counts every byte sent.

SceneSeg is measured only through its page hooks (input#file, body[data-ready],
body[data-result], #timings), so this keeps working whatever happens inside it. An init script
in both pages stamps, on the page's own clock (0 = navigation start), DOMContentLoaded, when
data-ready appears, when input#file fires 'change' and when each data-result appears.

Measured, alternating SceneSeg and the peer:
- start-up: navigation -> ready and -> the first photo's labels, the photo picked either when
  the page says it is ready or at DOMContentLoaded (the page queues it), on a first visit
  (fresh browser context: empty profile), a reload of that tab after some idle (--idle:
  SceneSeg stores its Python snapshot when idle) and a browser relaunch on the same persistent
  profile (V8's code cache, Cache Storage, IndexedDB all on disk); bytes sent per visit;
- photo -> full-resolution result ('change' to data-result), median after a warm-up, per size;
  SceneSeg's result is its label map drawn on screen, the peer's is what transformers.js
  delivers: one full-resolution mask per class (a label map from those costs one more pass,
  reported apart);
- peak resident memory (RSS) of each page's renderer process (the page and its workers), psutil
  polling every 50 ms while a photo is processed;
- the files' own sizes, and the site's size raw, gzip and brotli, as a static host would serve.

Any request to something other than 127.0.0.1 fails the run (exit status 1); Chromium also
resolves no host name but 127.0.0.1 here. A failure of the peer (out of memory at 12 MP, a
crash, a time-out) is recorded as a finding.

Files: peer_driver.py (the run), peer_pages.py (contexts, visits, memory), peer_serving.py
(servers, the peer's site, sizes), peer_report.py (the tables).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from peer_driver import run
from peer_report import markdown

ROOT = Path(__file__).resolve().parents[1]
SIZES_MP = (0.25, 2.0, 12.0)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "dist", help="SceneSeg's built site")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians of these)")
    parser.add_argument("--out", type=Path, help="also write peer.md and peer.json here")
    parser.add_argument(
        "--sizes",
        type=lambda s: [float(x) for x in s.split(",")],
        default=list(SIZES_MP),
        help="photo sizes in megapixels (default 0.25,2,12); start-up uses the smallest",
    )
    parser.add_argument(
        "--startup-only",
        action="store_true",
        help="only the start-up visits and bytes (no photo sizes, no brotli sizes)",
    )
    parser.add_argument(
        "--idle", type=float, default=8.0,
        help="seconds idle before a reload or closing the browser (default 8; SceneSeg stores "
        "its Python snapshot after 1 s idle)",
    )  # fmt: skip
    parser.add_argument("--no-relaunch", action="store_true", help="skip the relaunch visits")
    parser.add_argument(
        "--quick", action="store_true", help="one 0.25 MP photo, repeat 1, no relaunch"
    )
    parser.add_argument(
        "--big-repeat", type=int, default=2, help="runs at 10 MP and more (no warm-up of its own)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per page or photo")
    parser.add_argument("--brotli-quality", type=int, default=11)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat, args.big_repeat, args.no_relaunch = [0.25], 1, 1, True
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.site / "index.html").is_file():
        sys.exit(f"no built site at {args.site}: run build.py first")
    out: dict = {}
    try:
        run(args, out)
    except BaseException:
        if args.out:  # what was measured so far
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "peer.partial.json").write_text(json.dumps(out, indent=1, default=str))
        raise
    table = markdown(out)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "peer.md").write_text(table)
        (args.out / "peer.json").write_text(json.dumps(out, indent=1))
    if out["foreign_requests"]:
        print(f"FAIL: requests left localhost: {out['foreign_requests']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
