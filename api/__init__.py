"""HTTP API for maintenance staff, the owners' committee and residents (``estatewatch api``).

- :mod:`api.app`: ``create_app(settings)``, the composition root (engines, InfluxDB);
- :mod:`api.settings`: ``ESTATEWATCH_API_*``;
- :mod:`api.policy`: how every route declares the roles that may call it;
- :mod:`api.deps`: the dependencies routes take (current user, sessions, unit of work, clock);
- :mod:`api.auth`, :mod:`api.users`, :mod:`api.token_secrets`: users and bearer tokens
  (stored as hashes, in :mod:`maintenance.db.user_tables`);
- :mod:`api.visibility`: who may see which record (404, never 403, for others' records);
- :mod:`api.errors`, :mod:`api.limits`: problem+json errors, request size limits;
- :mod:`api.routes`: the resources; :mod:`api.schemas`: their request and response models;
- :mod:`api.cli`: ``estatewatch api``, ``users``, ``tokens``.
"""
