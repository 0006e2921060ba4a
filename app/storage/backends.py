"""The blob store CACHET_BLOB_URL names: files under a folder (the default) or an S3 bucket."""

from __future__ import annotations

from app.config import Settings
from app.storage.blobs import BlobStore, FilesystemBlobStore
from app.storage.s3 import S3BlobStore, s3_store


def open_blob_store(settings: Settings) -> BlobStore:
    bucket_and_prefix = settings.s3_bucket_and_prefix
    if bucket_and_prefix is None:
        return FilesystemBlobStore(settings.blob_dir, settings.tmp_dir)
    bucket, prefix = bucket_and_prefix
    store = s3_store(
        bucket,
        prefix,
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
    )
    return S3BlobStore(store, FilesystemBlobStore(settings.blob_cache_dir, settings.tmp_dir))
