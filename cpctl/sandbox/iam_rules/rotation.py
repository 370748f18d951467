"""IAM resources of the calls the Rotation workflow and the rotation functions make beyond the core table.

``RotateSecret`` is authorized on the secret and, per the RotateSecret API reference ("You also need
lambda:InvokeFunction permissions on the rotation function"), on the function that rotates it: the one
the request names, or the one already attached to the secret.
"""

from __future__ import annotations

from cpctl.sandbox.iam_resources import Authorization, RequestContext, action, rule


def _secret(context: RequestContext, secret_id: str) -> tuple[str, str]:
    """(ARN, attached rotation function ARN) of a secret named by name or ARN."""
    from moto.secretsmanager.models import secretsmanager_backends

    secrets = secretsmanager_backends[context.account][context.region].secrets
    found = secrets.get(secret_id)
    if found is None:
        return context.arn("secretsmanager", f"secret:{secret_id}-??????"), ""
    return str(found.arn), str(getattr(found, "rotation_lambda_arn", "") or "")


@rule("secretsmanager", "RotateSecret")
def _rotate_secret(context: RequestContext) -> list[Authorization]:
    arn, attached = _secret(context, str(context.param("SecretId")))
    function = str(context.param("RotationLambdaARN") or attached)
    grants = [(action(context), arn)]
    if function:
        grants.append(("lambda:InvokeFunction", function))
    return grants
