"""The load benchmark of the media service, ``python -m bench.calls``: see __main__.py."""
