"""The platform's reader endpoint: a Route 53 weighted CNAME record set, one record per read replica.

Applications read from one name (``READER_RECORD_NAME`` in the private zone ``READER_HOSTED_ZONE_ID``);
each replica is one weighted record of that name (SetIdentifier = the replica's DB instance id, equal
weights), so reads spread over every replica. Terraform publishes its baseline replicas the same way;
the control plane adds and withdraws only the records of replicas it creates and deletes. The TTL is
short, and a replica is withdrawn before it is deleted, then the workflow waits the TTL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

WEIGHT = 10
DEFAULT_TTL_SECONDS = 30


@dataclass(frozen=True)
class ReaderEndpoint:
    hosted_zone_id: str
    record_name: str
    ttl_seconds: int = DEFAULT_TTL_SECONDS

    @property
    def fqdn(self) -> str:
        return self.record_name if self.record_name.endswith(".") else f"{self.record_name}."

    def _record(self, replica: str, endpoint: str) -> dict[str, Any]:
        return {
            "Name": self.fqdn,
            "Type": "CNAME",
            "SetIdentifier": replica,
            "Weight": WEIGHT,
            "TTL": self.ttl_seconds,
            "ResourceRecords": [{"Value": endpoint}],
        }

    def records(self, route53: Any) -> dict[str, dict[str, Any]]:
        """The weighted records of the reader name, by SetIdentifier (every page)."""
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {
            "HostedZoneId": self.hosted_zone_id,
            "StartRecordName": self.fqdn,
            "StartRecordType": "CNAME",
        }
        while True:
            page = route53.list_resource_record_sets(**request)
            for record in page.get("ResourceRecordSets", []):
                if record.get("Name") != self.fqdn or record.get("Type") != "CNAME":
                    return found
                if record.get("SetIdentifier"):
                    found[str(record["SetIdentifier"])] = record
            if not page.get("IsTruncated"):
                return found
            request.update(
                StartRecordName=page["NextRecordName"],
                StartRecordType=page["NextRecordType"],
                StartRecordIdentifier=page.get("NextRecordIdentifier", ""),
            )

    def publish(self, route53: Any, endpoints: dict[str, str]) -> None:
        """UPSERT one record per replica: idempotent, a retry changes nothing."""
        if not endpoints:
            return
        route53.change_resource_record_sets(
            HostedZoneId=self.hosted_zone_id,
            ChangeBatch={
                "Comment": "control plane: publish read replicas",
                "Changes": [
                    {"Action": "UPSERT", "ResourceRecordSet": self._record(replica, endpoint)}
                    for replica, endpoint in sorted(endpoints.items())
                ],
            },
        )

    def withdraw(self, route53: Any, replicas: list[str]) -> list[str]:
        """DELETE the records of ``replicas`` (exactly as they are: Route 53 deletes only an exact match).
        Records already gone are skipped; returns the replicas withdrawn now."""
        present = self.records(route53)
        changes = [{"Action": "DELETE", "ResourceRecordSet": present[r]} for r in replicas if r in present]
        if changes:
            route53.change_resource_record_sets(
                HostedZoneId=self.hosted_zone_id,
                ChangeBatch={"Comment": "control plane: withdraw read replicas", "Changes": changes},
            )
        return [r for r in replicas if r in present]


def configured() -> ReaderEndpoint | None:
    """The reader endpoint of this deployment (template parameters), or None when there is none."""
    zone = os.environ.get("READER_HOSTED_ZONE_ID", "").strip()
    name = os.environ.get("READER_RECORD_NAME", "").strip()
    if not zone or not name:
        return None
    ttl = int(os.environ.get("READER_RECORD_TTL_SECONDS", str(DEFAULT_TTL_SECONDS)))
    return ReaderEndpoint(hosted_zone_id=zone.removeprefix("/hostedzone/"), record_name=name, ttl_seconds=ttl)
