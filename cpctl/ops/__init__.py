"""What ``cpctl`` does for people on call: start and follow executions, read history and audit, answer
approvals, draw workflows. The commands (``cpctl/cli.py``) are thin; the logic is here and returns plain
data, so ``--json`` and the Rich tables show the same thing."""
