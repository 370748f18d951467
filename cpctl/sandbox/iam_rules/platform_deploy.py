"""IAM resources of the CodeBuild calls the PlatformDeploy workflow makes (Service Authorization Reference).

``StartBuild`` and ``BatchGetBuilds`` are authorized on the project (``project/<name>``); a build id is
``<project name>:<uuid>``, so BatchGetBuilds needs the action on the project of every build it reads.
"""

from __future__ import annotations

from cpctl.sandbox.iam_resources import Authorization, RequestContext, action, rule


def _project(context: RequestContext, name: str) -> str:
    return name if name.startswith("arn:") else context.arn("codebuild", f"project/{name}")


@rule("codebuild", "StartBuild", "StopBuild", "BatchGetProjects", "ListBuildsForProject")
def _codebuild_project(context: RequestContext) -> list[Authorization]:
    names = context.param("names") or [context.param("projectName") or str(context.param("id", "")).split(":", 1)[0]]
    return [(action(context), _project(context, str(name))) for name in names]


@rule("codebuild", "BatchGetBuilds")
def _codebuild_builds(context: RequestContext) -> list[Authorization]:
    projects = sorted({str(build_id).split(":", 1)[0] for build_id in context.param("ids", [])})
    return [(action(context), _project(context, project)) for project in projects]
