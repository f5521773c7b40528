"""Deployment files and the local-services helpers used by tests and the demo."""
