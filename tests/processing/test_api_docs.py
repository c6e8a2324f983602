"""The API's documentation pages work in a store without internet: every script, style and icon
they load comes from the service itself, never from a CDN."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.processing.conftest import Service, serve


class _Links(HTMLParser):
    """Every ``src=`` and ``href=`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append((tag, value))


@pytest.fixture
def sqlite_service(tmp_path: Path, _sqlite_template: Path) -> Iterator[Service]:
    target = tmp_path / "processing.db"
    shutil.copyfile(_sqlite_template, target)
    with serve(f"sqlite:///{target}") as started:
        yield started


TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize(
    ("page", "needed"),
    [("/api/v1/docs", {".js", ".css", ".png"}), ("/api/v1/redoc", {".js", ".png"})],
)
def test_docs_load_everything_from_the_service(
    sqlite_service: Service, page: str, needed: set[str]
) -> None:
    base = sqlite_service.base_url
    origin = urlsplit(base)
    with httpx.Client(timeout=10) as http:
        reply = http.get(base + page)
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/html")
        links = _Links()
        links.feed(reply.text)
        assert links.urls, reply.text
        seen: set[str] = set()
        for _tag, url in links.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
            absolute = urljoin(base + page, url)
            assert urlsplit(absolute).netloc == origin.netloc
            asset = http.get(absolute)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
            suffix = Path(parts.path).suffix
            assert TYPES[suffix] in asset.headers["content-type"], (url, asset.headers)
            seen.add(suffix)
        assert seen == needed  # the page's own script (and style, and icon) were among them
        assert "cdn.jsdelivr.net" not in reply.text and "fonts.googleapis.com" not in reply.text
        # the schema the page shows answers too, from the same service
        assert http.get(base + "/api/v1/openapi.json").json()["info"]["title"]


def test_swagger_ui_does_not_call_the_online_validator(sqlite_service: Service) -> None:
    page = httpx.get(sqlite_service.base_url + "/api/v1/docs", timeout=10).text
    assert '"validatorUrl": null' in page


def test_no_cdn_pages_at_the_old_addresses(sqlite_service: Service) -> None:
    for path in ("/docs", "/redoc"):
        assert httpx.get(sqlite_service.base_url + path, timeout=10).status_code == 404
