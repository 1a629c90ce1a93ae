"""A stand-in for Colab's ``google.colab.userdata`` (the notebook's secrets), for the tests.

Put ``tests/fake_colab`` on ``sys.path`` to import it as ``google.colab.userdata``.
Like Colab's, :func:`get` raises :class:`SecretNotFoundError` for a secret that
does not exist and :class:`NotebookAccessError` for one the notebook was not
given access to.
"""

from __future__ import annotations

SECRETS: dict[str, str] = {}
"""The notebook's secrets: name -> value."""

DENIED: set[str] = set()
"""Secrets that exist but that the notebook may not read."""


class NotebookAccessError(Exception):
    """The notebook was not given access to the secret."""


class SecretNotFoundError(Exception):
    """No secret of that name."""


def get(key: str) -> str:
    if key in DENIED:
        raise NotebookAccessError(key)
    try:
        return SECRETS[key]
    except KeyError:
        raise SecretNotFoundError(key) from None
