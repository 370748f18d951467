"""RDS read replicas as AWS behaves, where moto is simpler (moto 5.2.5).

- ``CreateDBInstanceReadReplica`` answers ``DBInstanceAlreadyExists`` for a taken identifier (moto
  silently replaces the instance and lists it twice on the source), refuses a source whose automated
  backups are off (``InvalidDBInstanceState``, as AWS does), and does not make the replica Multi-AZ
  just because the source is (moto copies the source; ``MultiAZ`` defaults to false in AWS). Encryption,
  the KMS key and the AZ are copied from the source / taken from the request by moto already.
- A new replica can stay ``creating`` for a number of describes:
  ``SANDBOX_STATE.hold("rds", "<replica id>", polls=N, status="creating")`` before the create.
  Without a hold it is ``available`` at once (moto's behaviour).
- A deleted replica can stay ``deleting`` for N describes with a hold on its id (status "deleting"),
  then is gone (DBInstanceNotFound); moto drops it at once.
- When a replica becomes ``available`` the sandbox publishes its CloudWatch ``ReplicaLag``
  (AWS/RDS, dimension DBInstanceIdentifier) as RDS would, ``replica_lag_seconds`` (default 0.5 s).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from moto.rds.exceptions import DBInstanceAlreadyExists, RDSClientError
from moto.rds.models import DBInstance, RDSBackend

from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

_KIND = "rds"
_APPLIED: dict[str, Any] = {}
_LOCK = threading.RLock()
# Replicas held in "deleting": kept visible in the backend until their hold runs out.
_DELETING: dict[tuple[int, str], DBInstance] = {}
settings: dict[str, float] = {"replica_lag_seconds": 0.5}


class SourceBackupsOff(RDSClientError):
    def __init__(self, source: str) -> None:
        super().__init__(
            "InvalidDBInstanceState",
            f"Automated backups are not enabled for {source}; enable them before creating read replicas.",
        )


def publish_replica_lag(backend: RDSBackend, replica_id: str, seconds: float | None = None) -> None:
    """Put one ReplicaLag datapoint for ``replica_id`` straight into moto's CloudWatch (no API call counted)."""
    from moto.cloudwatch.models import cloudwatch_backends

    value = settings["replica_lag_seconds"] if seconds is None else seconds
    cloudwatch_backends[backend.account_id][backend.region_name].put_metric_data(
        "AWS/RDS",
        [
            {
                "MetricName": "ReplicaLag",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": replica_id}],
                "Value": float(value),
                "Unit": "Seconds",
                # Naive UTC, as moto stores datapoints put through the API (mixing both breaks queries).
                "Timestamp": datetime.now(UTC).replace(tzinfo=None),
            }
        ],
    )


def _create_db_instance_read_replica(self: RDSBackend, db_kwargs: dict[str, Any]) -> DBInstance:
    with _LOCK:
        replica_id = str(db_kwargs["db_instance_identifier"])
        if replica_id in self.databases:
            raise DBInstanceAlreadyExists()
        source_id = str(db_kwargs["source_db_instance_identifier"])
        source = self.databases.get(source_id)
        if source is not None and not int(getattr(source, "backup_retention_period", 0) or 0):
            raise SourceBackupsOff(source_id)
        db_kwargs = {"multi_az": False, **db_kwargs}
        replica: DBInstance = _APPLIED["create_db_instance_read_replica"](self, db_kwargs)
        if SANDBOX_STATE.peek_hold(_KIND, replica_id) is not None:
            replica.status = "creating"
        else:
            publish_replica_lag(self, replica_id)
        return replica


def _delete_db_instance(self: RDSBackend, db_instance_identifier: str, *args: Any, **kwargs: Any) -> DBInstance:
    with _LOCK:
        database: DBInstance = _APPLIED["delete_db_instance"](self, db_instance_identifier, *args, **kwargs)
        if SANDBOX_STATE.peek_hold(_KIND, db_instance_identifier) is not None:
            # Still there, deleting, until the hold runs out (AWS takes minutes).
            self.databases[db_instance_identifier] = database
            _DELETING[(id(self), db_instance_identifier.lower())] = database
        return database


def _describe_db_instances(self: RDSBackend, db_instance_identifier: str | None = None, filters: Any = None) -> Any:
    with _LOCK:
        for key, database in list(_DELETING.items()):
            backend_id, name = key
            if backend_id != id(self) or self.databases.get(name) is not database:
                del _DELETING[key]  # another sandbox's backend, or replaced since
            elif SANDBOX_STATE.held_status(_KIND, name) is None:
                self.databases.pop(name, None)
                del _DELETING[key]
            else:
                database.status = "deleting"
        databases = _APPLIED["describe_db_instances"](self, db_instance_identifier, filters)
        for database in databases:
            if database.status == "creating":
                held = SANDBOX_STATE.held_status(_KIND, str(database.db_instance_identifier))
                if held is None:
                    database.status = "available"
                    publish_replica_lag(self, str(database.db_instance_identifier))
                else:
                    database.status = held
        return databases


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["create_db_instance_read_replica"] = RDSBackend.create_db_instance_read_replica
    _APPLIED["delete_db_instance"] = RDSBackend.delete_db_instance
    _APPLIED["describe_db_instances"] = RDSBackend.describe_db_instances
    RDSBackend.create_db_instance_read_replica = _create_db_instance_read_replica  # type: ignore[method-assign]
    RDSBackend.delete_db_instance = _delete_db_instance  # type: ignore[method-assign]
    RDSBackend.describe_db_instances = _describe_db_instances  # type: ignore[method-assign]


def reset() -> None:
    with _LOCK:
        _DELETING.clear()
        settings["replica_lag_seconds"] = 0.5


def targets() -> list[str]:
    return [
        "moto.rds.models.RDSBackend.create_db_instance_read_replica",
        "moto.rds.models.RDSBackend.delete_db_instance",
        "moto.rds.models.RDSBackend.describe_db_instances",
        "moto.rds.models.DBInstance",
        "moto.rds.exceptions.DBInstanceAlreadyExists",
        "moto.rds.exceptions.RDSClientError",
        "moto.cloudwatch.models.cloudwatch_backends",
    ]
