"""Shared fixtures: the local HTTP server with the saved pages, and a project folder to run in."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server import Response, TestServer

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent

DOCUMENTED_URL = (
    "https://baoquangtri.vn/quyen-chu-tich-ubnd-tinh-ha-sy-dong-tham-trung-tam-phuc-vu-hanh-chinh"
    "-cong-tinh-cong-ty-co-phan-nuoc-sach-quang-tri-191475.htm"
)
ALERTS_URL = "https://www.google.com/alerts/feeds/06848009421274367633/10908127580914474034"
RSS_URL = "https://vtcnews.vn/rss/tin-moi.rss"
# Hosts of the real articles the test feeds link to, each served by the test server under /<host>/.
MIRRORED = ("baoquangtri.vn", "baocantho.com.vn", "vtcnews.vn", "vnexpress.net", "www.google.com")


def read_page(path: Path) -> bytes:
    """The bytes of a saved page, gunzipped when stored compressed."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def article_pages() -> dict[str, bytes]:
    """URL -> bytes of every saved real article page that has a truth file."""
    pages = {}
    for truth_path in sorted((DATA / "articles").glob("*/*.truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        stem = truth_path.name.removesuffix(".truth.json")
        page = next(p for p in truth_path.parent.iterdir() if p.name.startswith(stem + ".html"))
        pages[truth["url"]] = read_page(page)
    return pages


def mirror_path(url: str) -> str:
    """The test server path that serves a real URL."""
    return "/" + url.split("://", 1)[1]


@pytest.fixture
def server() -> Iterator[TestServer]:
    """A running server with the feeds and article pages of the end-to-end tests."""
    srv = TestServer()
    srv.routes[mirror_path(ALERTS_URL)] = Response(
        (DATA / "handmade" / "google-alerts-cong-dich-vu-cong.xml").read_bytes(),
        headers={"Content-Type": "application/atom+xml; charset=utf-8"},
    )
    srv.routes[mirror_path(RSS_URL)] = Response(
        (DATA / "handmade" / "provincial-rss.xml").read_bytes(),
        headers={"Content-Type": "application/rss+xml"},
    )
    srv.routes[mirror_path(DOCUMENTED_URL)] = Response(
        (DATA / "handmade" / "baoquangtri.vn-191475.html").read_bytes()
    )
    for url, body in article_pages().items():
        srv.routes[mirror_path(url)] = Response(body)
    srv.start()
    yield srv
    srv.stop()


@dataclass
class Project:
    """A folder with a sources.yaml pointing at the test server, and the CLI to run in it."""

    path: Path
    server: TestServer

    @property
    def posts(self) -> Path:
        return self.path / "posts"

    def write_config(self, sources: str, settings: str = "") -> Path:
        mirrors = "".join(
            f'    "https://{host}/": "{self.server.url("/" + host + "/")}"\n' for host in MIRRORED
        )
        text = (
            "settings:\n  allow_private_networks: true\n  timeout: 5\n"
            # Politeness delays and retry waits are for real servers; tests only need them short.
            "  host_delay: 0\n  retry_backoff: 0.01\n"
            f"{settings}  mirrors:\n{mirrors}sources:\n{sources}"
        )
        config = self.path / "sources.yaml"
        config.write_text(text, encoding="utf-8")
        return config

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `python -m aggregator ARGS` in the project folder."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [sys.executable, "-m", "aggregator", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start `python -m aggregator ARGS` in the project folder; stdout and stderr piped."""
        return subprocess.Popen(
            [sys.executable, "-m", "aggregator", *args],
            cwd=self.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )

    def snapshot(self) -> dict[str, tuple[int, int, bytes]]:
        """Every post file with its inode, modification time and bytes."""
        if not self.posts.exists():
            return {}
        return {
            p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(self.posts.iterdir())
        }


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """Poll until `condition()` holds; fail naming `what` if it never does (a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


ALERTS_SOURCE = f"""  - name: cong-dich-vu-cong
    type: google_alerts
    url: {ALERTS_URL}
    topic: Cổng dịch vụ công
    categories: [entries, VN]
"""
RSS_SOURCE = f"""  - name: vtc-tin-moi
    type: feed
    url: {RSS_URL}
    categories: [news]
"""


@pytest.fixture
def project(tmp_path: Path, server: TestServer) -> Project:
    """A project folder configured with the alerts and RSS sources."""
    proj = Project(tmp_path, server)
    proj.write_config(ALERTS_SOURCE + RSS_SOURCE)
    return proj
