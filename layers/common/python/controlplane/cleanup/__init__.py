"""The Cleanup workflow: snapshot retention (GFS, as policy data), orphans, a circuit breaker, batched deletes."""
