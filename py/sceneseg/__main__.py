"""``python -m sceneseg``: the CLI lives in ``sceneseg.tools.cli`` (a CPython tool; this shim
is never shipped to the browser)."""

from sceneseg.tools.cli import run

if __name__ == "__main__":
    run()
