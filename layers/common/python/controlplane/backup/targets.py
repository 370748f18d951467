"""What the deployment backs up (from the function's environment, set by template.yaml)."""

from __future__ import annotations

import os

from pydantic import Field, ValidationError

from controlplane.models.base import Model


class Targets(Model):
    home_region: str = Field(min_length=1)
    dr_region: str = Field(min_length=1)
    dr_kms_key: str = Field(min_length=1)
    backups_bucket: str = Field(min_length=3)
    db_instance: str = Field(min_length=1)
    cache_group: str = Field(min_length=1)
    cluster: str = Field(min_length=1)

    @classmethod
    def from_env(cls) -> Targets:
        try:
            return cls(
                home_region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", ""),
                dr_region=os.environ.get("DR_REGION", ""),
                dr_kms_key=os.environ.get("DR_KMS_KEY_ARN", ""),
                backups_bucket=os.environ.get("BACKUPS_BUCKET", ""),
                db_instance=os.environ.get("RDS_PRIMARY_IDENTIFIER", ""),
                cache_group=os.environ.get("CACHE_REPLICATION_GROUP_ID", ""),
                cluster=os.environ.get("CLUSTER_NAME", ""),
            )
        except ValidationError as exc:
            raise RuntimeError(f"backup environment is incomplete: {exc.errors(include_input=False)}") from exc
