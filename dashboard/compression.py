"""Dashboard layer: compressed responses (flask-compress) and long caching of the files whose address changes
with their content.

A cold page load fetches about 4 MB of JavaScript (dash-ag-grid 1.3 MB, Dash's renderer and core components)
and the overview 4.7 MB more (plotly.js); compressed they are about a third of that. zstd at level 3 comes
first (Chromium and Firefox accept it: plotly.js in ~30 ms against ~150 ms for gzip at level 6, the same
size), then brotli, then gzip for older browsers. Each compressed copy of a fingerprinted, immutable file —
a component suite `…/_dash-component-suites/<pkg>/<file>.v<version>m<mtime>.js`, an asset `?m=<mtime>`,
the vendored Bootstrap CSS — is kept, so a file is compressed once per encoding per process, not once per
visitor. Dynamic responses (callbacks, the API, pages) are compressed on each request and never kept;
streamed ones (the CSV downloads) are left as they are. On loopback the bytes hardly matter; over a real
network they are most of a cold load.

Assets carry their modification time in the address Dash writes (`?m=`), so they are cached for a year like
the component suites, instead of Flask's revalidation on every load."""

from __future__ import annotations

import re
import threading

from flask import Flask, Request, Response, request
from flask_compress import Compress

# Files of installed packages (component suites; Dash fingerprints most of them, not the chunks it loads on
# demand such as plotly.min.js, which still cannot change under a running process), assets whose address
# carries their modification time, and the vendored Bootstrap CSS.
_IMMUTABLE = re.compile(r"^/_dash-component-suites/|^/assets/.+\?m=[\d.]+$|^/vendor/")
YEAR = 31_536_000
CACHE_LIMIT_BYTES = 32 * 1024 * 1024  # all of Dash's, ag-grid's and plotly's bundles compressed fit in ~8 MB


class ImmutableCache:
    """flask-compress's cache backend that keeps only the compressed copies of immutable files, up to a byte
    limit (the set of such files is small and fixed, so nothing needs evicting)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def set(self, key: str, value: bytes) -> None:
        if not key.endswith("#immutable"):
            return
        with self._lock:
            if key not in self._data and self._size + len(value) <= CACHE_LIMIT_BYTES:
                self._data[key] = value
                self._size += len(value)


def _cache_key(req: Request) -> str:
    path = req.full_path.rstrip("?")
    return path + "#immutable" if _IMMUTABLE.match(path) else path


def install(server: Flask) -> None:
    server.config.setdefault("COMPRESS_ALGORITHM", ["zstd", "br", "gzip"])
    server.config.setdefault("COMPRESS_ZSTD_LEVEL", 3)
    server.config.setdefault("COMPRESS_BR_LEVEL", 4)
    server.config.setdefault("COMPRESS_STREAMS", False)  # CSV downloads stream row by row: leave them be
    server.config.setdefault("COMPRESS_CACHE_KEY", _cache_key)
    server.config.setdefault("COMPRESS_CACHE_BACKEND", ImmutableCache)

    Compress(server)

    @server.after_request
    def static_files(response: Response) -> Response:
        # Registered after flask-compress's hook, so it runs before it (Flask runs them last-registered
        # first). Assets and the vendored CSS are sent as files (a stream, which flask-compress passes
        # over): read them into the response, so they are compressed — and kept — like the bundles.
        path = request.path
        if response.status_code == 200 and (path.startswith("/assets/") or path.startswith("/vendor/")):
            if response.is_streamed:
                response.direct_passthrough = False
                response.make_sequence()
            if path.startswith("/assets/") and request.args.get("m"):
                response.cache_control.max_age = YEAR
                response.cache_control.public = True
                response.cache_control.no_cache = None
        return response
