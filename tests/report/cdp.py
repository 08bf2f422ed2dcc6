"""A minimal Chrome DevTools Protocol driver for opening reports in headless Chromium.

Only what the report tests need: open a page, evaluate JavaScript, take screenshots, and
record everything that would mean trouble (uncaught exceptions, console errors, CSP
violations, JavaScript dialogs such as an injected `alert()`).

Chromium is started with a fresh profile, no network features, and
`--remote-debugging-port=0`; the port is read from DevToolsActivePort in the profile.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    """The browser binary, or None (tests skip)."""
    env = os.environ.get("CERTAUDIT_CHROMIUM")
    if env:
        return env
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


class PageTrouble(AssertionError):
    pass


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(
        self, binary: str, profile: Path, *, width: int = 1400, height: int = 1000
    ) -> None:
        from websockets.sync.client import connect

        self.profile = profile
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:  # noqa: S310
            targets = json.load(resp)
        page = next(t for t in targets if t.get("type") == "page")
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        )
        self._next = 0
        self.events: list[dict[str, Any]] = []
        self.dialogs: list[str] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    # -- protocol -------------------------------------------------------------------

    def call(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(method)
            msg = json.loads(self.ws.recv(timeout=remaining))
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        if msg.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(msg["params"].get("message", ""))
            self.ws.send(
                json.dumps(
                    {"id": 0, "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}
                )
            )

    def wait_for(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(method)
            msg = json.loads(self.ws.recv(timeout=remaining))
            if "id" in msg:
                continue
            self._event(msg)
            if msg.get("method") == method:
                return msg

    # -- what tests use -------------------------------------------------------------

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (scripts have run by then)."""
        self.call("Page.navigate", url="about:blank")  # so that a #fragment change reloads too
        self.wait_for("Page.loadEventFired")
        self.events.clear()
        self.dialogs.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.eval("1")  # drain events queued before the load event

    def eval(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def trouble(self) -> list[str]:
        """Exceptions, console errors/warnings, log errors (CSP violations) and dialogs."""
        out = [f"dialog: {d}" for d in self.dialogs]
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(
                    f"exception: {params['exceptionDetails'].get('text')}"
                    f" {params['exceptionDetails'].get('exception', {}).get('description', '')}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "warning",
                "assert",
            ):
                out.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in (
                "error",
                "warning",
            ):
                out.append(f"log {params['entry'].get('source')}: {params['entry'].get('text')}")
        return out

    def screenshot(self, path: Path, *, selector: str | None = None) -> None:
        """A PNG of the viewport, or of one element (scrolled into view) when selector is given."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            box = self.eval(
                f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
                " el.scrollIntoView(); const r = el.getBoundingClientRect();"
                " return {x: r.left + scrollX, y: r.top + scrollY, width: r.width,"
                " height: Math.min(r.height, 2400)}; })()"
            )
            params.update(clip={**box, "scale": 1}, captureBeyondViewport=True)
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            stack = getattr(self, "_stack", None)
            if stack is not None:
                stack.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


@contextmanager
def browser(profile: Path, **kw: Any) -> Iterator[Browser]:
    binary = chromium_path()
    if binary is None:
        raise RuntimeError("no Chromium")
    b = Browser(binary, profile, **kw)
    try:
        yield b
    finally:
        b.close()
