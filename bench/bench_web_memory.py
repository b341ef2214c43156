"""Benchmark: a real web process (`python app.py web`) serving every analytics page over every range to
headless Chromium — its resident memory (now and peak) and how long each page takes until its charts are
drawn. Prints figures; asserts nothing.

    python bench/bench_web_memory.py --url sqlite:////path/to/big.db            # e.g. after demo --history 1000000

Chromium is Debian's (the tests' path and flags); the web process is a child of this script."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import free_port, memory, wait_up  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGES = ("/costs", "/agents", "/performance", "/database", "/budgets", "/")
RANGES = ("24h", "7d", "30d", "90d")
TARGET_RSS_MB = 300.0


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
        print(f"web process {proc.pid} up: {memory(proc.pid)['VmRSS']:.0f} MiB resident")
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
        mem = memory(proc.pid)
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
