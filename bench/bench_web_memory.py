"""Benchmark: a real web process (`python app.py web`) serving every analytics page over every range to
headless Chromium — its resident memory (now and peak) and how long each page takes until its charts are
drawn. Prints figures; asserts nothing.

    python bench/bench_web_memory.py --url sqlite:////path/to/big.db            # e.g. after demo --history 1000000

Chromium is Debian's (the tests' path and flags); the web process is a child of this script."""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGES = ("/costs", "/agents", "/performance", "/database", "/budgets", "/")
RANGES = ("24h", "7d", "30d", "90d")
TARGET_RSS_MB = 300.0


def status(pid: int) -> dict[str, float]:
    """Memory lines of /proc/PID/status in MiB: VmRSS (resident now), VmHWM (peak since start), RssAnon
    (heap), RssFile (mapped files, mostly shared libraries)."""
    found = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) / 1024.0
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"web process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("web process did not answer /healthz")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="database URL (an existing, populated database)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over every page and range")
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        str(ROOT / "app.py"),
        "web",
        "--db",
        args.url,
        "--port",
        str(port),
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times: dict[str, list[float]] = {}
    try:
        wait_up(base, proc)
        print(f"web process {proc.pid} up: {status(proc.pid)['VmRSS']:.0f} MiB resident")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page()
            for _ in range(args.rounds):
                for path in PAGES:
                    for rng in RANGES if path not in ("/", "/budgets") else ("",):
                        url = f"{base}{path}" + (f"?range={rng}" if rng else "")
                        started = time.perf_counter()
                        page.goto(url)
                        # Drawn: no request in flight (the websocket does not count) and no component
                        # Dash still marks as loading.
                        page.wait_for_load_state("networkidle")
                        page.wait_for_function(
                            "() => document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0",
                            timeout=60_000,
                        )
                        times.setdefault(f"{path} {rng}".strip(), []).append(time.perf_counter() - started)
            browser.close()
        mem = status(proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)
    print(
        f"\n{'page':22s} {'median s':>9s} {'max s':>7s}  (navigation until charts drawn, {args.rounds} rounds)"
    )
    for name, values in times.items():
        print(f"{name:22s} {statistics.median(values):9.2f} {max(values):7.2f}")
    verdict = "MET" if mem["VmHWM"] < TARGET_RSS_MB else "MISSED"
    print(
        f"\nweb process: {mem['VmRSS']:.0f} MiB resident at the end ({mem['RssAnon']:.0f} heap, "
        f"{mem['RssFile']:.0f} mapped files), peak {mem['VmHWM']:.0f} MiB (target < {TARGET_RSS_MB:.0f} MB: {verdict})"
    )


if __name__ == "__main__":
    main()
