#!/usr/bin/env python3
"""Lighthouse's accessibility, best-practices and SEO categories on the built app and widget.

    python3 bench/lighthouse.py --site dist [--lighthouse PATH]   # exit 1 unless all are 100

Lighthouse is not a project dependency (it needs ~200 npm packages): give its binary with
--lighthouse, or the script runs `npx --yes lighthouse@12.8.2` (12.x runs on Node 20; 13.x needs
Node 22). Chromium: $CHROME_PATH or /usr/bin/chromium.

The site is served with build.py's handler minus Cross-Origin-Opener-Policy: with COOP the page
moves to a new browsing-context group on load and Lighthouse loses it ("NO_FCP", measured here
with Lighthouse 12.8.2 and 13.5.0 and Debian's Chromium 156). COEP and everything else stay.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

CATEGORIES = ["accessibility", "best-practices", "seo"]
PAGES = ["", "embed/embed.html"]


class Handler(build.Handler):
    def send_header(self, keyword, value):
        if keyword != "Cross-Origin-Opener-Policy":
            super().send_header(keyword, value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "dist")
    parser.add_argument("--lighthouse", help="path of the lighthouse binary")
    args = parser.parse_args()
    command = [args.lighthouse] if args.lighthouse else ["npx", "--yes", "lighthouse@12.8.2"]
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(args.site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for page in PAGES:
            url = f"http://127.0.0.1:{server.server_address[1]}/{page}"
            report = Path(tmp) / "report.json"
            subprocess.run(
                [*command, url, f"--only-categories={','.join(CATEGORIES)}", "--quiet",
                 "--chrome-flags=--headless=new --no-sandbox", "--output=json",
                 f"--output-path={report}"],
                env=env, check=False,
            )  # fmt: skip
            result = json.loads(report.read_text())
            if result.get("runtimeError"):
                print(f"{url}: {result['runtimeError']['code']}")
                failed = True
                continue
            scores = {c: round(result["categories"][c]["score"] * 100) for c in CATEGORIES}
            print(f"{url}: {scores}")
            for audit in result["audits"].values():
                score = audit.get("score")
                if score is not None and score < 1 and audit["scoreDisplayMode"] == "binary":
                    print(f"  {audit['id']}: {audit['title']}")
            failed |= any(s != 100 for s in scores.values())
    server.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
