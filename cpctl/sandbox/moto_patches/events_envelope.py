"""Events delivered by EventBridge rules carry the whole envelope, ``account`` included, as in AWS.

moto 5.2.5 builds a target's event from ``EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE``, which
leaves ``account`` out (its paths map has it; the template does not use it), so a subscriber's
schema that requires it (the registry's, ``cpctl/ops/event_schema.py``) would fail on every event.
"""

from __future__ import annotations

from typing import Any

from moto.events.utils import EventTemplateParser

_APPLIED: dict[str, Any] = {}
_TEMPLATE = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", "account": "<account>",'
    ' "time": <time>, "region": "<region>", "resources": <resources>, "detail": <detail>}'
)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["template"] = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    assert "account" in EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP
    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = _TEMPLATE


def targets() -> list[str]:
    return [
        "moto.events.utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE",
        "moto.events.utils.EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP",
    ]
