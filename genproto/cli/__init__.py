"""The ``genproto`` command line (see :mod:`genproto.cli.main`)."""
