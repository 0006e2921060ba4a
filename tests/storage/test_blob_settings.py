"""CACHET_BLOB_URL and CACHET_S3_*: which store the service opens, and the mistakes refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.storage.backends import open_blob_store
from app.storage.blobs import FilesystemBlobStore
from app.storage.s3 import S3BlobStore


def test_by_default_documents_are_files_under_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = open_blob_store(settings)
    assert isinstance(store, FilesystemBlobStore) and store.root == tmp_path / "blobs"
    assert settings.s3_bucket_and_prefix is None


def test_a_file_url_names_the_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_url=f"file://{tmp_path}/elsewhere")
    store = open_blob_store(settings)
    assert isinstance(store, FilesystemBlobStore) and store.root == tmp_path / "elsewhere"


def test_an_s3_url_names_bucket_and_prefix(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        blob_url="s3://documents/cachet/prod/",
        s3_endpoint="http://127.0.0.1:8333",
        s3_access_key_id="key",
        s3_secret_access_key="secret",
    )
    assert settings.s3_bucket_and_prefix == ("documents", "cachet/prod")
    store = open_blob_store(settings)
    # Local copies live apart from a filesystem store's blobs: the sweep treats them as a cache.
    assert isinstance(store, S3BlobStore) and store.root == tmp_path / "blob-cache"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("https://bucket/prefix", "must start with file:// or s3://"),
        ("s3:///prefix", "s3:// needs a bucket"),
        ("file://", "file:// needs a folder"),
    ],
)
def test_blob_urls_that_name_no_store_are_refused(url: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Settings(blob_url=url)


def test_one_s3_key_without_the_other_is_refused() -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(blob_url="s3://bucket", s3_access_key_id="key")
