#!/usr/bin/env python
"""Render a run's report.html in headless Chromium: screenshot it and check that every image loaded.

Usage: python scripts/check_report_html.py RUN_DIR [--screenshot report.png] [--height PX] [--chromium PATH]

Needs a Chromium binary (Debian/Ubuntu: `apt-get install -y chromium`). The report is copied to a temporary
file with a small script appended that, once the page has loaded, counts the <img> elements whose
`complete` is true and `naturalWidth` > 0 and writes the result into the DOM; `chromium --headless
--dump-dom` prints that DOM. The copy loads from file:// with networking off, as a user opening the file
would. Exit status 0 when every image loaded, 1 otherwise, 2 when Chromium or the report is missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const p = document.createElement("p");
  p.id = "gpumeta-probe";
  p.textContent = `IMAGES ${ok}/${imgs.length}`;
  document.body.appendChild(p);
});
</script>"""


def find_chromium(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def run_chromium(chromium: str, page: Path, *args: str) -> str:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--virtual-time-budget=10000", *args, page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="Run directory holding report.html")
    parser.add_argument("--screenshot", type=Path, default=None, help="Where to write a PNG screenshot")
    parser.add_argument("--height", type=int, default=2400,
                        help="Screenshot height in pixels (the page is cut there; ~7000 shows a whole demo report)")
    parser.add_argument("--chromium", default=None, help="Chromium binary (default: found on PATH)")
    args = parser.parse_args(argv)
    report = args.run_dir / "report.html"
    if not report.is_file():
        print(f"error: {report}: missing; write it with gpumeta.evaluate.write_report_html", file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("error: no chromium on PATH; install it (apt-get install -y chromium) or pass --chromium",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "report_probe.html"
        probe.write_text(report.read_text().replace("</body>", _PROBE + "</body>"))
        dom = run_chromium(chromium, probe, "--dump-dom")
        if args.screenshot is not None:
            run_chromium(chromium, report, f"--screenshot={args.screenshot.resolve()}",
                         f"--window-size=1300,{args.height}")
    found = re.search(r"IMAGES (\d+)/(\d+)", dom)
    if not found:
        print("error: the page did not finish loading in headless Chromium (no probe result)", file=sys.stderr)
        return 1
    loaded, total = map(int, found.groups())
    print(f"{report}: {loaded} of {total} images loaded"
          + (f"; screenshot {args.screenshot}" if args.screenshot is not None else ""))
    return 0 if loaded == total and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
