"""Alarm-driven remediation and scheduled scaling: policy, event models, storm dedupe, schedules."""
