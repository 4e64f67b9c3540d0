"""Browser test harness: Playwright (sync API) + Debian chromium + axe-core.

Fixtures:
    browser            session: chromium from /usr/bin/chromium (env GUICHET_CHROMIUM overrides),
                       headless. Skipped with a reason when chromium is absent, unless env CI
                       is set: in CI a missing chromium is an error.
    page               per test: a fresh context (locale fr-FR, 1280x900) and page;
                       ``page.guichet_problems`` lists console errors, page errors, failed
                       requests and HTTP responses >= 400 seen by the page.
    assert_accessible  callable ``assert_accessible(page, context=None, skip_rules=())``:
                       runs axe-core, fails listing every violation of impact serious or
                       critical.
    live_server        factory ``live_server(app) -> LiveServer`` (``.url``, ``.url_for(path)``):
                       serves a WSGI app on a free 127.0.0.1 port in a background thread,
                       stopped at the end of the test.
    frontend_assets    session, autouse: runs deploy/local/build_assets.sh (a no-op when the
                       compiled assets are up to date) and returns static/dist/brand.json.

Eventlet: run these tests in their own pytest invocation, ``.venv/bin/pytest tests/browser``
(tests/browser/pytest.ini makes this directory the rootdir, so no root conftest or pyproject
addopts load eventlet's monkey patch here; pyproject's norecursedirs keeps them out of the
main run). Checked with Playwright 1.65 under ``eventlet.monkey_patch()``: pages load and
axe runs, but ``Playwright.stop()`` and some navigation waits (``locator.click()`` then
``wait_for_load_state()``) hang forever. So when eventlet is found patched, the ``browser``
fixture fails at once with that explanation instead of hanging until the timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The same import paths as pyproject's [tool.pytest.ini_options] pythonpath (this directory
# has its own pytest.ini, so pyproject's settings do not apply here).
for _p in ("common", "services/identity", "services/demarches", "services/wallet", "services/notify", "gateway"):
    _path = str(ROOT / _p)
    if _path not in sys.path:
        sys.path.insert(0, _path)

CHROMIUM = os.environ.get("GUICHET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DIST = ROOT / "gateway" / "guichet_gateway" / "static" / "dist"
BLOCKING_IMPACTS = ("serious", "critical")


def eventlet_patched() -> bool:
    if "eventlet" not in sys.modules:
        return False
    try:
        from eventlet import patcher
    except ImportError:  # pragma: no cover
        return False
    return any(patcher.is_monkey_patched(m) for m in ("socket", "thread", "os"))


@pytest.fixture(scope="session", autouse=True)
def frontend_assets() -> dict[str, Any]:
    """The compiled brand assets (built if needed); returns dist/brand.json."""
    script = ROOT / "deploy" / "local" / "build_assets.sh"
    if shutil.which("node"):
        proc = subprocess.run(["sh", str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.fail(f"build_assets.sh failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    if not (DIST / "guichet.css").exists():
        pytest.fail("compiled assets missing (static/dist/guichet.css) and node is not installed", pytrace=False)
    return json.loads((DIST / "brand.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)", pytrace=False)
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); browser tests skipped")
    if eventlet_patched():
        pytest.fail(
            "eventlet is monkey-patched in this pytest process; Playwright's sync API hangs under it. "
            "Run the browser tests on their own: .venv/bin/pytest tests/browser",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.guichet_problems = problems
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # A navigation aborts whatever the page was still loading (an image, the live stream):
    # that is the browser's normal behaviour, not a problem of the page.
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} {req.failure}")
            if "ERR_ABORTED" not in str(req.failure) else None)
    page.on("response", lambda resp: problems.append(f"HTTP {resp.status}: {resp.url}") if resp.status >= 400 else None)
    try:
        yield page
    finally:
        context.close()


def _format_violations(violations: Sequence[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v.get('impact')}] {v['id']}: {v.get('help')} ({v.get('helpUrl')})")
        for node in v.get("nodes", [])[:5]:
            target = " ".join(str(t) for t in node.get("target", []))
            summary = (node.get("failureSummary") or "").replace("\n", " / ")
            lines.append(f"    at {target}: {summary}")
    return "\n".join(lines)


def check_accessible(page: Any, context: Any = None, skip_rules: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Run axe-core on the page; fail on any serious or critical violation. Returns the
    other (minor/moderate) violations for information."""
    from axe_playwright_python.sync_playwright import Axe

    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if skip_rules:
        options["rules"] = {rule: {"enabled": False} for rule in skip_rules}
    results = Axe().run(page, context=context, options=options)
    violations = results.response.get("violations", [])
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        pytest.fail(
            f"axe-core: {len(blocking)} serious/critical violation(s) on {page.url}\n{_format_violations(blocking)}",
            pytrace=False,
        )
    return [v for v in violations if v not in blocking]


@pytest.fixture
def assert_accessible() -> Callable[..., list[dict[str, Any]]]:
    return check_accessible


@dataclass
class LiveServer:
    url: str
    server: Any
    thread: threading.Thread

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], LiveServer]]:
    from werkzeug.serving import make_server

    started: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        live = LiveServer(url=f"http://127.0.0.1:{server.server_port}", server=server, thread=thread)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    """One Guichet for the browser tests: the four services as real processes on their
    own vhost and databases, a real S3 server and SMTP sink (started once per run)."""
    from guichet_common.testing.env import S3Server, TestEnv, clean_stale

    clean_stale()
    s3 = S3Server()
    env = TestEnv("b", s3)
    try:
        env.start_all()
        yield env
    finally:
        env.close()
        s3.stop()


@pytest.fixture(scope="session")
def app(stack: Any) -> Iterator[Any]:
    """The gateway's Flask app on that stack (serve it with `live_server(app)`)."""
    application = stack.gateway_app()
    yield application
    if "guichet_live" in application.extensions:
        application.extensions["guichet_live"].stop()
    application.extensions["rpc"].close()
