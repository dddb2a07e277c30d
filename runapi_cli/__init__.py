"""The ``runapi`` command line: the local server, user keys and the demo."""
