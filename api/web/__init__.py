"""The web app for people: server-rendered pages under ``/`` (the JSON API stays under
``/api/v1``). :func:`api.web.app.install_web` mounts it on the app the factory builds;
the pieces a page needs are in :mod:`api.web.deps` (login, role gate, CSRF, rendering).
This package imports nothing at its top, so :mod:`api.passwords` can use
:mod:`api.web.i18n` without pulling in the pages."""
