"""The workflow around the stages (the top layer): config checks, audit, command line, code facts.

- ``workflow_config``    checks of the merged config (systems, splits, grid, settings of every stage)
- ``config_files``       reading, schema-checking and merging the --configfile files
- ``audit``              ``sksr audit``: do the outputs match their provenance records?
- ``cli``                the ``sksr`` command (``run``, ``check-config``, ``audit``)
- ``code_dependencies``  which package modules a workflow script reaches (the rules' code inputs)
- ``layers``             the import check: every import points down the layers
"""
