"""The ``estatewatch`` command line: the top layer, above every service.

:mod:`cli.main` builds one argparse parser from the subcommands each part registers
(``register(subparsers)``): the services' own command modules (``gateway.cli``,
``ingest.cli``, ``maintenance.cli``, ``infra.local.cli``), the entry points' (``api.cli``,
``demo.cli``) and the two that live here: :mod:`cli.catalogue` (the kernel's device
catalogue) and :mod:`cli.simulate`, which composes two services (the simulators and, with
``--local-services``, the private servers of ``infra.local``). It sets up logging and turns
an :class:`~estatewatch.errors.EstatewatchError` into one line and exit status 2. Living
here, above the services, it lets the kernel (``estatewatch``) import no service.
"""
