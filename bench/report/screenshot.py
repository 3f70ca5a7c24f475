"""A picture of the results site as a browser draws it: ``python -m bench.report.screenshot
[--site reports/site] [--out reports/site/screenshot.png]``; and the headless browser the site's
tests drive (``browser``).

The browser is Debian's Chromium (``/usr/bin/chromium``, which ./setup.sh installs with apt)
driven by Playwright (the ``dev`` extra), never a browser Playwright downloads. The flags keep
it off the network: without them Chromium calls home at start-up, which a closed machine refuses."""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from methods.runtime.files import atomic_write

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}
# true once Plotly has drawn every chart of the page
CHARTS_DRAWN = "Array.from(document.querySelectorAll('.chart')).every(d => d.querySelector('.main-svg'))"


def unavailable() -> str:
    """Why no browser can be driven here, in one line ('' when one can)."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: pip install -e '.[dev]' (./setup.sh does)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: ./setup.sh installs Debian's chromium with apt-get (as root)"
    return ""


@contextmanager
def browser():
    """A headless Chromium with a fresh, empty profile, as a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()


def open_page(context, path: Path):
    """``path`` opened from the file system, its charts drawn."""
    page = context.new_page()
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_function(CHARTS_DRAWN)
    return page


def screenshot(site: Path, out: Path, context=None) -> Path:
    """The whole of ``site/index.html`` as a PNG at ``out`` (in ``context``, else a browser of its own)."""
    if context is None:
        with browser() as own:
            return screenshot(site, out, own)
    page = open_page(context, Path(site) / "index.html")
    png = page.screenshot(full_page=True)
    page.close()
    atomic_write(Path(out), lambda tmp: Path(tmp).write_bytes(png))
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report.screenshot", description=__doc__.split("\n\n")[0])
    p.add_argument("--site", type=Path, default=Path("reports/site"))
    p.add_argument("--out", type=Path, help="default: SITE/screenshot.png")
    args = p.parse_args(argv)
    why = unavailable() or ("" if (args.site / "index.html").exists() else
                            f"{args.site / 'index.html'} not found: build it with python -m bench.report")
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2
    print(screenshot(args.site, args.out or args.site / "screenshot.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
