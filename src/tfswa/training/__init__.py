"""Training: configuration, losses, the trainer."""
