"""HTTP API for maintenance staff, the owners' committee and residents."""
