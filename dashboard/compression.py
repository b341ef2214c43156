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
the component suites, instead of Flask's revalidation on every load. A body joined from several such files
(dashboard/bundles.py) is a `Fixed`: kept in memory with each encoding made once, answered by `respond`."""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import brotli
from flask import Flask, Request, Response, current_app, request, stream_with_context
from flask_compress import Compress
from flask_compress.compat import compression
from flask_compress.flask_compress import _choose_algorithm, _compress_data

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


# A fixed body is compressed once, in the background as soon as it is made, at the levels that give the fewest
# bytes for a tenth of a second or so each (1.2 MB of scripts: zstd 19 ~0.3 s, 166 KB; brotli 9 0.06 s,
# 171 KB; brotli 11 took 1.5 s). A request before that is answered at the usual levels (zstd 3: ~6 ms).
FIXED_LEVELS = {"COMPRESS_ZSTD_LEVEL": 19, "COMPRESS_BR_LEVEL": 9, "COMPRESS_LEVEL": 9}


@dataclass(frozen=True)
class Fixed:
    """A response body that never changes under its address (the address carries `etag`): kept in memory
    as is and in each encoding, answered without reading, compressing or checking anything per request."""

    body: bytes
    mimetype: str
    algorithms: tuple[str, ...]
    encoded: dict[str, bytes] = field(default_factory=dict)  # filled by fixed()'s thread

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:16]


def fixed(body: bytes, mimetype: str, server: Flask) -> Fixed:
    """`body`, with its compressed copies (each encoding the server offers, at FIXED_LEVELS) made meanwhile."""
    item = Fixed(body, mimetype, tuple(server.config["COMPRESS_ALGORITHM"]))
    levels = Flask(__name__)  # flask-compress's _compress_data reads its levels from an app's config
    levels.config.update({**server.config, **FIXED_LEVELS})

    def compress() -> None:
        for algorithm in item.algorithms:
            item.encoded[algorithm] = _compress_data(levels, body, algorithm)

    threading.Thread(target=compress, name="compress-fixed", daemon=True).start()
    return item


def respond(item: Fixed, req: Request) -> Response:
    """`item` for this request: 304 when the browser holds it, else its smallest accepted encoding, cached for
    a year and marked immutable (a new body comes under a new address)."""
    headers = {
        "ETag": f'"{item.etag}"',
        "Cache-Control": f"public, max-age={YEAR}, immutable",
        "Vary": "Accept-Encoding",
    }
    if item.etag in req.if_none_match:
        return Response(status=304, headers=headers)
    algorithm = _choose_algorithm(item.algorithms, req.headers.get("Accept-Encoding", ""))
    if algorithm is None:
        return Response(item.body, mimetype=item.mimetype, headers=headers)
    encoded = item.encoded.get(algorithm)
    if encoded is None:  # asked for before the thread got to it: at the server's own (fast) level
        encoded = _compress_data(current_app, item.body, algorithm)
    headers["Content-Encoding"] = algorithm  # flask-compress leaves an encoded response alone
    return Response(encoded, mimetype=item.mimetype, headers=headers)


class _Encoder(Protocol):
    def chunk(self, data: bytes) -> bytes: ...
    def end(self) -> bytes: ...


class _Zstd:
    def __init__(self) -> None:
        self._c = compression.zstd.ZstdCompressor(level=3)

    def chunk(self, data: bytes) -> bytes:
        return bytes(self._c.compress(data) + self._c.flush(compression.zstd.ZstdCompressor.FLUSH_BLOCK))

    def end(self) -> bytes:
        return bytes(self._c.flush(compression.zstd.ZstdCompressor.FLUSH_FRAME))


class _Brotli:
    def __init__(self) -> None:
        self._c = brotli.Compressor(quality=4)

    def chunk(self, data: bytes) -> bytes:
        return bytes(self._c.process(data) + self._c.flush())

    def end(self) -> bytes:
        return bytes(self._c.finish())


class _Gzip:
    def __init__(self) -> None:
        self._c = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip container

    def chunk(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def end(self) -> bytes:
        return self._c.flush(zlib.Z_FINISH)


_ENCODERS: dict[str, Callable[[], _Encoder]] = {"zstd": _Zstd, "br": _Brotli, "gzip": _Gzip}


def streamed(parts: Iterator[str], mimetype: str, req: Request) -> Response:
    """A response sent part by part as `parts` yields them, each part compressed and flushed on its own (so
    the browser has it at once), in the encoding the browser prefers. flask-compress leaves streams alone
    (the CSV downloads, row by row, should stay so)."""
    algorithm = _choose_algorithm(tuple(_ENCODERS), req.headers.get("Accept-Encoding", ""))
    if algorithm is None:
        return Response(stream_with_context(p.encode() for p in parts), mimetype=mimetype)
    encoder = _ENCODERS[algorithm]()

    def encoded() -> Iterator[bytes]:
        for part in parts:
            yield encoder.chunk(part.encode())
        yield encoder.end()

    response = Response(stream_with_context(encoded()), mimetype=mimetype)
    response.headers["Content-Encoding"] = algorithm
    response.headers["Vary"] = "Accept-Encoding"
    return response


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
