"""VPC interface endpoints named by parameter: the functions in the VPC reach Secrets Manager and
ElastiCache through them (without a route a rotation function times out).

The template passes the endpoints' DNS names (``SECRETS_MANAGER_ENDPOINT``, ``ELASTICACHE_ENDPOINT``;
empty when the endpoints' private DNS answers for the regional names). botocore reads a service's
endpoint from ``AWS_ENDPOINT_URL_<SERVICE ID>``, so setting those before the first client is made is
all it takes; ``controlplane.aws`` stays the one place clients are made.
"""

from __future__ import annotations

import os

_VARIABLES = {
    "SECRETS_MANAGER_ENDPOINT": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "ELASTICACHE_ENDPOINT": "AWS_ENDPOINT_URL_ELASTICACHE",
}


def use_vpc_endpoints() -> None:
    for parameter, variable in _VARIABLES.items():
        host = os.environ.get(parameter, "").strip()
        if host:
            os.environ.setdefault(variable, f"https://{host}")
