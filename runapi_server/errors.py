"""Errors a resolver raises on bad input; each becomes a GraphQL error with its message."""


class BadInput(Exception):
    """The request is malformed or names something that does not exist; nothing changed."""
