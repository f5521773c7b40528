"""``estatewatch demo``: the whole platform on one machine, with a simulated compound.

- :mod:`demo.processes`: the child processes and their clean shutdown;
- :mod:`demo.platform`: what runs (services, simulator, gateway, ingest, maintenance, API)
  and in which order;
- :mod:`demo.history`: a month of maintenance visits played before it starts;
- :mod:`demo.script`: the scenario played against it (faults, a resident's request);
- :mod:`demo.board`: what the console shows, read from the platform;
- :mod:`demo.console`: the live view, or one summary line at a time without a terminal;
- :mod:`demo.cli`: the command.
"""
