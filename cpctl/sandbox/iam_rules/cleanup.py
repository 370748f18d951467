"""IAM resources of the calls the Cleanup workflow makes beyond the scaling core's (Service Authorization Reference).

- ``elasticache:DescribeSnapshots``: the snapshot named (``SnapshotName``), else every snapshot of the region.
- ``elasticache:DeleteSnapshot``: the snapshot.
S3 requests are not authorized by the sandbox at all (docs/sandbox.md); the template's S3 grants are checked by
tests/infra/test_cleanup_template.py instead.
"""

from __future__ import annotations

from cpctl.sandbox.iam_resources import Authorization, RequestContext, action, rule


@rule("elasticache", "DescribeSnapshots")
def _describe_snapshots(context: RequestContext) -> list[Authorization]:
    name = context.param("SnapshotName")
    return [(action(context), context.arn("elasticache", f"snapshot:{name or '*'}"))]


@rule("elasticache", "DeleteSnapshot")
def _delete_snapshot(context: RequestContext) -> list[Authorization]:
    return [(action(context), context.arn("elasticache", f"snapshot:{context.param('SnapshotName')}"))]


@rule("lambda", "ListFunctions")
def _list_functions(context: RequestContext) -> list[Authorization]:
    """The cost review lists the control plane's functions (no resource-level permission)."""
    return [(action(context), "*")]
