"""The local W&B-compatible server: ariadne on ``schema.graphql``, SQLite, files on disk.

A separate wing from the client: it never imports ``runapi`` or ``runapi_generated``.
"""
