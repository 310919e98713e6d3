"""``python -m sceneseg``: the CLI lives in ``sceneseg.tools.cli`` (a CPython tool; this shim
is never shipped to the browser). ``main`` is re-exported for console scripts installed before
the move (``sceneseg.__main__:main``)."""

from sceneseg.tools.cli import main, run

__all__ = ["main"]

if __name__ == "__main__":
    run()
