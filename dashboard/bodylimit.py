"""Dashboard layer: the request class of the dashboard's server, whose body limit also holds for chunked
bodies. Werkzeug caps a chunked body at max_content_length by silently stopping there (the truncated body then
fails to parse: a 400 that hides the cause); this stream raises 413 when a byte more than the limit arrives."""

from __future__ import annotations

import io
from typing import IO, Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property


class CappedStream(io.RawIOBase):
    """Reads at most `limit` bytes of `stream`; asked for more while more is there, it raises 413."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._limit:
            if self._stream.read(1):  # one byte more tells a body over the limit from one ending at it
                raise RequestEntityTooLarge()
            return 0
        data = self._stream.read(min(len(view), self._limit - self._pos))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


class BoundedRequest(Request):
    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if self.content_length is None and "wsgi.input_terminated" in self.environ and limit is not None:
            return io.BufferedReader(CappedStream(self.environ["wsgi.input"], limit))
        return super().stream
