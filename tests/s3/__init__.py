"""The service with its documents in S3 (a real SeaweedFS gateway on 127.0.0.1)."""
