"""``python -m sceneseg.quantize``: kept working; the tool is ``sceneseg.tools.quantize`` (this
shim is never shipped to the browser)."""

import sys

if __name__ == "__main__":
    from sceneseg.tools.quantize.__main__ import main

    sys.exit(main())
