"""Headless Chromium for the tests of the HTML featurelake writes (the Data Docs, the model card, the drift report):
the DOM a page has after the browser loaded it, and whether its images decode."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium(what: str) -> None:
    """Skip a browser test where Chromium is missing, except under CI, where .ci/run installs it."""
    if chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the {what} browser test: .ci/run installs Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it and runs this test")


def dump_dom(url: str, profile: Path, *flags: str) -> str:
    """The DOM of a page after headless Chromium loaded it (and ran its scripts)."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *flags,
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


IMAGE_PROBE = (
    "<script>window.addEventListener('load', () => { document.body.setAttribute('data-images', "
    "JSON.stringify([...document.images].map(i => [i.alt, i.complete ? i.naturalWidth : 0]))); });</script>"
)


def decoded_images(page: str, directory: Path) -> tuple[str, list]:
    """A copy of an HTML page opened in headless Chromium with a probe script appended: its DOM, and the
    [alt, decoded width] of every image (0 for one the browser could not decode)."""
    probe = directory / "probe.html"
    probe.write_text(page.replace("</body>", IMAGE_PROBE + "</body>"))
    dom = dump_dom(probe.as_uri(), directory / "chromium")
    return dom, json.loads(re.search(r'data-images="([^"]*)"', dom).group(1).replace("&quot;", '"'))
