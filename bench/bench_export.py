"""Benchmark: the dashboard's CSV download of the task table over HTTP from a real web process
(`python app.py web`) — rows/s, bytes, time, and the web process's resident memory before, during (sampled)
and at its peak (VmHWM). Prints figures; asserts nothing.

    python bench/bench_export.py --url sqlite:////path/to/big.db             # e.g. after demo --history 1000000
    python bench/bench_export.py --copy /path/to/big.db                      # a private copy of an SQLite file
    python bench/bench_export.py --history 200000                            # generate one first (minutes)
    python bench/bench_export.py --url postgresql://postgres@127.0.0.1:5432/big --query "status=completed"

The web process migrates the database it opens (every start does), so point --url only at a database that may
be upgraded; --copy works on a copy in a temp folder and leaves the original untouched."""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import free_port, machine_line, memory, table, verdict, wait_up  # noqa: E402

TARGET_RSS_MB = 300.0


def prepare(args: argparse.Namespace, folder: Path) -> str:
    """The database URL to serve: given, a copy of an SQLite file, or a generated history."""
    if args.url:
        return str(args.url)
    if args.copy:
        target = folder / "copy.db"
        started = time.monotonic()
        shutil.copyfile(args.copy, target)
        print(
            f"copied {args.copy} ({target.stat().st_size / 1e9:.1f} GB) in {time.monotonic() - started:.0f}s"
        )
        return f"sqlite:///{target}"
    url = f"sqlite:///{folder / 'bench.db'}"
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "demo", "--history", str(args.history), "--db", url],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"generated {args.history:,} tasks in {time.monotonic() - started:.0f}s", flush=True)
    return url


class Sampler:
    """The web process's resident memory every 50 ms while the download runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, memory(self.pid)["VmRSS"])

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def download(url: str) -> tuple[int, int, float, float, list[str]]:
    """Reads the CSV as a spreadsheet would (csv module, BOM dropped): rows, bytes, seconds to the first byte
    and in all, the header."""
    counted = {"bytes": 0}

    class Counting(io.RawIOBase):
        def __init__(self, response: HTTPResponse) -> None:
            self.response = response

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            n = self.response.readinto(buffer)
            counted["bytes"] += n
            return n

    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        first_byte = time.perf_counter() - started
        text = io.TextIOWrapper(
            io.BufferedReader(Counting(response), 1 << 20), encoding="utf-8-sig", newline=""
        )
        reader = csv.reader(text)
        header = next(reader)
        rows = sum(1 for _ in reader)
    return rows, counted["bytes"], first_byte, time.perf_counter() - started, header


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--url", help="database URL to serve (the web process migrates it)")
    source.add_argument("--copy", type=Path, help="an SQLite file to copy into a temp folder and serve")
    parser.add_argument("--history", type=int, default=200_000, help="tasks to generate without --url/--copy")
    parser.add_argument(
        "--query", default="", help="the export's query string, e.g. 'status=failed&sort=title'"
    )
    parser.add_argument("--repeat", type=int, default=1, help="downloads in a row (the peak covers them all)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="tasklens-export-bench-"))
    log_path = folder / "web.log"
    try:
        url = prepare(args, folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, str(ROOT / "app.py"), "web", "--db", url, "--port", str(port)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        results = []
        try:
            wait_up(base, proc)
            with urllib.request.urlopen(f"{base}/tasks", timeout=60) as r:  # the page a user comes from
                r.read()
            before = memory(proc.pid)
            print(f"web process {proc.pid} up: {before['VmRSS']:.0f} MiB resident", flush=True)
            export = f"{base}/export/tasks.csv" + (f"?{args.query}" if args.query else "")
            for n in range(args.repeat):
                with Sampler(proc.pid) as sampler:
                    rows, size, first_byte, seconds, header = download(export)
                after = memory(proc.pid)
                results.append((f"download {n + 1}", rows, size / 1e6, first_byte, seconds, rows / seconds,
                                sampler.peak, after["VmHWM"]))  # fmt: skip
                print(f"  … {rows:,} rows in {seconds:.1f}s", flush=True)
            end = memory(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\nGET /export/tasks.csv{'?' + args.query if args.query else ''} from `python app.py web` on "
          f"{url.split(':', 1)[0]}; {machine_line()}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"columns: {len(header)} ({', '.join(header[:4])}, …)")
    print(table(["run", "rows", "MB", "first byte s", "seconds", "rows/s", "peak RSS MiB (sampled)", "VmHWM MiB"],
                results))  # fmt: skip
    peak = end["VmHWM"]
    met = verdict(peak < TARGET_RSS_MB)
    print(f"\nweb process: {before['VmRSS']:.0f} MiB before the export, {end['VmRSS']:.0f} MiB after, peak "
          f"{peak:.0f} MiB (VmHWM since start); target < {TARGET_RSS_MB:.0f} MB: {met}")  # fmt: skip


if __name__ == "__main__":
    main()
