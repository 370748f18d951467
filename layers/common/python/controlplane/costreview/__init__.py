"""The weekly Cost and utilization review: metrics, idle capacity, tags, spot share, the control plane's own cost."""
