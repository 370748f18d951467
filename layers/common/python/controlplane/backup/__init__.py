"""Backups, restore drills and recovery (docs/backup.md, docs/adr/0008-backup-and-recovery.md).

Managed AWS features (RDS automated backups and their cross-region replication, S3 replication)
are configured by Terraform and *verified* here every day; the control plane itself takes the
daily manual snapshots and their DR copies, the ElastiCache export, the EKS state export, the
integrity checks, the restore drills and recovery. Modules:

- ``policy``: the validated policy (``policies/backup-<env>.json``).
- ``naming``: deterministic names and tags of every artefact (one per day, UTC).
- ``rds``, ``cache``, ``buckets``, ``eks_state``: one adapter per resource kind.
- ``steps``: the Backup workflow's tasks; ``drill``: the Restore drill's; ``recovery``: Recovery's.
"""
