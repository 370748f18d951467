"""The steps that log in to a restored database (drill data checks, recovery verify and health), in the VPC."""

from controlplane.backup import in_vpc
from controlplane.observability import task_handler

lambda_handler = task_handler(in_vpc.handle)
