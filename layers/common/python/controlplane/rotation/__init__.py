"""Secret rotation: the Secrets Manager rotation functions (the four-step protocol) and the Rotation workflow."""
