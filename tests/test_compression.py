"""Compressed responses and long-lived caching of fingerprinted files (dashboard/compression.py), on the app
as `python app.py web` builds it."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest
from backports import zstd

import dashboard
from dashboard.services import Services
from tests.api_support import api_client

DECODE = {"zstd": zstd.decompress, "br": brotli.decompress, "gzip": gzip.decompress}


def _bundle(index: str) -> str:
    # Named in the page for the grid's stand-in (dashboard/bundles.py), which loads it where a grid is.
    found = re.search(r'content="(/_dash-component-suites/dash_ag_grid/[^"]+\.js)"', index)
    assert found, "the page names dash-ag-grid's bundle"
    return found.group(1)


@pytest.mark.parametrize("encoding", ["zstd", "br", "gzip"])
def test_bundles_are_compressed_once_and_decode_to_the_same_file(svc: Services, encoding: str) -> None:
    client = api_client(svc)
    path = _bundle(client.get("/").get_data(as_text=True))
    plain = client.get(path)
    assert "Content-Encoding" not in plain.headers  # a client that asks for nothing gets the file as it is
    first = client.get(path, headers={"Accept-Encoding": encoding})
    again = client.get(path, headers={"Accept-Encoding": encoding})
    assert first.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in first.headers["Vary"]
    assert DECODE[encoding](first.data) == plain.data
    assert again.data == first.data and len(first.data) < len(plain.data) / 2
    assert first.headers["Cache-Control"] == "max-age=31536000"  # Dash's own, for its fingerprinted files


def test_zstd_is_preferred_and_assets_with_their_mtime_are_cached_for_a_year(svc: Services) -> None:
    client = api_client(svc)
    index = client.get("/", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert index.headers["Content-Encoding"] == "zstd"
    # Pages name the assets joined with the other scripts (dashboard/bundles.py); at their own addresses,
    # which carry their modification time as Dash writes them, they are still cached for a year.
    asset = f"/assets/live.js?m={(Path(dashboard.__file__).parent / 'assets' / 'live.js').stat().st_mtime}"
    r = client.get(asset, headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert "max-age=31536000" in r.headers["Cache-Control"] and "no-cache" not in r.headers["Cache-Control"]
    css = client.get("/vendor/bootstrap.min.css", headers={"Accept-Encoding": "br"})
    assert css.headers["Content-Encoding"] == "br" and b".btn" in brotli.decompress(css.data)


def test_callbacks_and_the_api_are_compressed_but_csv_downloads_stream_as_they_are(svc: Services) -> None:
    client = api_client(svc)
    deps = client.get("/_dash-dependencies", headers={"Accept-Encoding": "zstd"})
    assert deps.headers["Content-Encoding"] == "zstd" and zstd.decompress(deps.data).startswith(b"[")
    csv = client.get("/export/tasks.csv", headers={"Accept-Encoding": "zstd, br, gzip"})
    assert csv.status_code == 200 and "Content-Encoding" not in csv.headers
    assert csv.data.startswith(b"id,") or csv.data.startswith(b"\xef\xbb\xbfid,")
