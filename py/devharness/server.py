"""The static server: a built site on a free port with build.py's own handler (the site's real
headers: COOP/COEP for cross-origin isolation, so threads; gzip; cache rules)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import threading
from pathlib import Path


class DualStackServer(http.server.ThreadingHTTPServer):
    """Listens on IPv6 and IPv4: Chromium may resolve "localhost" to ::1 only."""

    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


@contextlib.contextmanager
def serve_site(directory: Path, dual_stack: bool = False):
    """Serve a built site on a free port with build.py's own handler; yields the port. On
    127.0.0.1, or with ``dual_stack`` on every address, IPv6 too (for "localhost")."""
    from sitebuild.server import Handler  # build.Handler, without build.py's CLI

    handler = functools.partial(Handler, directory=str(directory))
    if dual_stack:
        server = DualStackServer(("::", 0), handler)
    else:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
