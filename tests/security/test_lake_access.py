"""The Parquet/Delta field reads only under the data folders and from named object stores: it once read any file
and fetched any URL (SSRF), and its errors told existing paths from missing ones and open ports from closed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from studio.context import Studio
from studio.data import sources
from studio.data.lake_access import LakeAccess, ObjectStore, load_stores
from studio.errors import DataError


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request it gets (it should get none)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _refusal(studio: Studio, location: str) -> str:
    with pytest.raises(DataError) as caught:
        sources.snapshot_lake(studio.sources, location, "x")
    return str(caught.value)


def test_no_url_typed_in_is_fetched(studio: Studio, listener: tuple[str, list[str]]) -> None:
    url, hits = listener
    for location in (f"{url}/data.parquet", url.replace("http", "https") + "/x", "ftp://127.0.0.1/x",
                     "s3://bucket/x", f"{url}/x.delta"):
        assert "reads no URL typed in" in _refusal(studio, location)
    assert hits == []


def test_paths_outside_the_data_folders_are_refused_alike_existing_or_not(studio: Studio, tmp_path: Path) -> None:
    existing = tmp_path / "secret.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(existing)
    messages = [_refusal(studio, str(p)) for p in (existing, tmp_path / "missing.parquet")]
    assert all("reads only files under its data folders" in m for m in messages)
    assert messages[0].replace("secret", "missing") == messages[1]  # nothing tells one from the other
    for location in ("/etc/passwd", "file:///etc/passwd", "../../etc/passwd", "~/.ssh/id_rsa"):
        assert "reads only files under its data folders" in _refusal(studio, location)


def test_credentials_in_a_url_are_never_echoed(studio: Studio) -> None:
    message = _refusal(studio, "s3://AKIAEXAMPLE:hunter2secret@bucket/table")
    assert "hunter2secret" not in message and "AKIAEXAMPLE" not in message and "s3://bucket/table" in message


def test_a_named_store_reads_with_credentials_from_the_environment_only(studio: Studio, monkeypatch) -> None:
    import fsspec

    with fsspec.filesystem("memory").open("/lake/sales.parquet", "wb") as out:
        pd.DataFrame({"units": [1, 2, 3]}).to_parquet(out)
    (studio.settings.root / "stores.toml").write_text('[mem]\nurl = "memory://lake"\n'
                                                       '[locked]\nurl = "s3://b/p"\nsecret_env = { secret = "LK" }\n')
    record = sources.snapshot_lake(studio.sources, "store://mem/sales.parquet", "sales")
    assert record.n_rows == 3 and record.source == "parquet:parquet store://mem/sales.parquet, read " + \
        record.source.split(", read ")[1]
    with pytest.raises(DataError, match="environment variable LK, which is not set"):
        sources.snapshot_lake(studio.sources, "store://locked/t", "t")
    monkeypatch.setenv("LK", "s3cr3t-value")
    resolved = LakeAccess.from_settings(studio.settings).resolve("store://locked/t")
    assert resolved.storage_options == {"secret": "s3cr3t-value"} and "s3cr3t" not in repr(resolved)
    assert "store://nope" in _refusal(studio, "store://nope/x") or "No object store named" in _refusal(
        studio, "store://nope/x")
    assert "climb" in _refusal(studio, "store://mem/../other")


def test_a_store_file_with_credentials_in_its_url_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stores.toml").write_text('[x]\nurl = "s3://key:secret@bucket"\n')
    with pytest.raises(DataError, match="credentials in its URL"):
        load_stores(tmp_path / "stores.toml")
    (tmp_path / "stores.toml").write_text('[x]\nurl = "http://example.org/data"\n')
    with pytest.raises(DataError, match="object store URL"):
        load_stores(tmp_path / "stores.toml")
    assert ObjectStore(url="s3://b").options == {}


def test_the_data_page_reads_a_lake_path_only_when_open_is_pressed(tmp_path: Path,
                                                                    listener: tuple[str, list[str]]) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    url, hits = listener
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("app_pages/data.py").run()
    box = next(t for t in at.text_input if t.label == "Path")
    box.set_value(f"{url}/probe.parquet").run()  # typed, not submitted: nothing is read
    assert not at.error and hits == []
    next(t for t in at.text_input if t.label == "Path").set_value(f"{url}/probe.parquet")
    next(b for b in at.button if b.label == "Open").click().run()
    assert any("reads no URL typed in" in e.value for e in at.error) and hits == []
