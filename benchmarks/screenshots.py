"""Screenshots of every page of the built book, as a reader sees it offline.

`python benchmarks/screenshots.py [--html _build/html] [--out _build/screenshots] [--height 2400]`

Renders each HTML page (the theme's own static files aside) with headless Chromium
(Debian's `chromium`: `apt-get install chromium`) into one PNG per page, named after the
page's path, so a reviewer can look at the book without a browser. Nothing is fetched from
the network: whatever a page loads must come from the book's own files.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--html", default="_build/html", help="the built site (default _build/html)")
    parser.add_argument("--out", default="_build/screenshots", help="folder of the PNGs (default _build/screenshots)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400, help="page height rendered (pixels)")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium on PATH: apt-get install chromium", file=sys.stderr)
        return 2
    html, out = Path(args.html).resolve(), Path(args.out)
    pages = sorted(p for p in html.rglob("*.html") if not {"_static", "_sources"} & set(p.relative_to(html).parts))
    if not pages:
        print(f"{html}: no HTML pages; build the book first (make book)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for page in pages:
        png = out / (str(page.relative_to(html).with_suffix("")).replace("/", "__") + ".png")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--virtual-time-budget=8000", f"--window-size={args.width},{args.height}",
                        f"--screenshot={png.resolve()}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
        print(f"{png}  <- {page.relative_to(html)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
