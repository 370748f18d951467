"""IAM resource rules per workflow, one module each, registered with ``iam_resources.rule``.

``cpctl.sandbox.iam_resources`` holds the rules of the services the scaling core calls; a workflow
that calls more (Secrets Manager, S3, CodeBuild, ...) adds ``iam_rules/<workflow>.py`` with its
rules. Every module here is imported when ``iam_resources`` is, so a rule cannot be forgotten.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
