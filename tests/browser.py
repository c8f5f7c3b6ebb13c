"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

The browser is never downloaded (no ``playwright install``): Playwright's
Python package drives ``/usr/bin/chromium``. The ``browser`` fixture in
tests/conftest.py launches it; a test opens a fresh context (cookies,
storage, downloads of its own) with ``open_page``, which also records what
the page did that a user would not see: dialogs, console errors, uncaught
exceptions and Content-Security-Policy violations. ``screenshot`` keeps a
PNG in the test's tmp dir and in ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT = {"width": 1200, "height": 900}

# Runs before the page's own scripts; Playwright injects it over CDP, so the page's CSP
# does not apply to it. The page cannot see or remove what it records.
_RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
});
"""


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, with nothing that phones home."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
    )


@dataclass
class PageWatch:
    """What a page did besides rendering: every list is empty on a clean page."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        """Violations reported to the page, and those Chromium logged to the console."""
        reported: list[str] = self.page.evaluate("window.__cspViolations || []")
        logged = [m for m in self.console_errors if "Content Security Policy" in m]
        return reported + logged

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)


@contextmanager
def open_page(browser: Any, **context_options: Any) -> Iterator[PageWatch]:
    """A page in a new context (downloads accepted), watched from before its first script."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, **context_options)
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.on("dialog", watch._on_dialog)
        page.on("console", watch._on_console)
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.add_init_script(_RECORD_CSP_VIOLATIONS)
        yield watch
    finally:
        context.close()


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    """Save ``name.png`` (whole page) under the test's tmp dir and copy it to test-artifacts/."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)
    return path
