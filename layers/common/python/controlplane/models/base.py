"""Base model settings shared by every boundary model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Frozen, strict about unknown fields: a typo in an input is an error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class LenientModel(BaseModel):
    """For envelopes Step Functions builds (state grows as the workflow runs): unknown keys are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")
