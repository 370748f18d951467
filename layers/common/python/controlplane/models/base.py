"""Base model settings shared by every boundary model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class Model(BaseModel):
    """Frozen, strict about unknown fields: a typo in an input is an error, not a silent default.

    Computed fields are written into the JSON (the state machine and people read them) and
    dropped again when the JSON comes back as the next task's input.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_computed_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.model_computed_fields:
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


class LenientModel(BaseModel):
    """For envelopes Step Functions builds (state grows as the workflow runs): unknown keys are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")
