"""Headless Chromium: Debian's own build (/usr/bin/chromium, or SCENESEG_CHROMIUM), driven by
Playwright through ``executable_path``, so no Playwright browser download is needed."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("SCENESEG_CHROMIUM", "/usr/bin/chromium")
# No sandbox (containers, root); nothing that phones home, so a test's requests are the app's.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright, *extra_args: str, **options):
    """``playwright.chromium.launch`` on CHROMIUM with CHROMIUM_ARGS (plus ``extra_args``);
    ``options`` go to ``launch`` (headless, env, ...)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], **options
    )
