"""Kaggle credentials, looked up where kagglehub looks, sent to the Kaggle API only.

Public Kaggle models need no credentials; gated and private ones do
(Kaggle/kagglehub#146). The lookup follows kagglehub's order exactly, as its
public code has it (src/kagglehub/config.py ``get_kaggle_credentials`` and
``get_colab_credentials``, and kagglesdk/kaggle_env.py
``get_access_token_from_env``, which kagglehub calls first):

1. in a Kaggle notebook (``KAGGLE_KERNEL_RUN_TYPE`` and ``KAGGLE_DATA_PROXY_URL``
   set), the token file ``KAGGLE_API_V1_TOKEN`` names;
2. ``KAGGLE_API_TOKEN``: the path of a file holding the token, or the token;
3. ``~/.kaggle/access_token``, then ``~/.kaggle/access_token.txt``;
4. ``KAGGLE_USERNAME`` + ``KAGGLE_KEY`` (both set);
5. ``$KAGGLE_CONFIG_DIR/kaggle.json`` when that variable is set, else
   ``~/.kaggle/kaggle.json`` (``{"username": ..., "key": ...}``);
6. in Colab, the notebook's secrets ``KAGGLE_API_TOKEN``, then ``KAGGLE_USERNAME``
   + ``KAGGLE_KEY`` (``google.colab.userdata``).

A token is sent as ``Authorization: Bearer``, a username and key as HTTP basic
auth, both only to the Kaggle API endpoint (:func:`hubmagic.core.config.kaggle_api_endpoint`):
:func:`auth_for` gives nothing for any other scheme, host or port, so a
``HUBMAGIC_ENDPOINT`` mirror never gets them, and ``requests`` drops the
header when the API redirects to the storage host (``Session.rebuild_auth``).
No value is ever part of a message, a record or a repr: :func:`describe` and
the fixes name the sources only.

Why hubmagic reads these sources itself even where kagglehub is installed
(Colab and Kaggle preinstall it): kagglehub's lookup is no public API (it moved
from ``kagglehub.config`` into kagglesdk in kagglehub 0.4, and its names and
return values changed with it), importing kagglehub pulls in kagglesdk and
more on every download of a public model, the core layer must not depend on
what a runtime happens to have installed, and its Colab lookup gives up on the
first missing secret (a ``SecretNotFoundError`` for ``KAGGLE_API_TOKEN`` hides
``KAGGLE_USERNAME`` / ``KAGGLE_KEY``), which here each secret is asked for on its
own. The sources, their order and their formats are kagglehub's, so a machine
set up for kagglehub (or the kaggle CLI) works here unchanged. Credentials set
only in memory with ``kagglehub.login()`` are kagglehub's own and not read.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubmagic.core import config
from hubmagic.core.errors import Fix, InvalidSettingError

if TYPE_CHECKING:
    from requests import PreparedRequest
    from requests.auth import AuthBase

__all__ = [
    "Credentials",
    "auth_for",
    "bearer_auth",
    "denied_fix",
    "describe",
    "is_kaggle_api",
    "lookup",
    "sources_looked_at",
]

_ACCESS_TOKEN_FILES = ("~/.kaggle/access_token", "~/.kaggle/access_token.txt")
_HOME_KAGGLE_JSON = "~/.kaggle/kaggle.json"
_BASIC = f"{config.KAGGLE_USERNAME}/{config.KAGGLE_KEY}"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def bearer_auth(token: str) -> AuthBase:
    """``Authorization: Bearer <token>`` for a ``requests`` request; its repr hides the token."""
    return _bearer_class()(token)


@functools.cache
def _bearer_class() -> Callable[[str], AuthBase]:
    # Built on first use: the core imports requests only when it downloads (core/http.py).
    from requests.auth import AuthBase

    class BearerAuth(AuthBase):
        __slots__ = ("_token",)

        def __init__(self, token: str) -> None:
            self._token = token

        def __call__(self, request: PreparedRequest) -> PreparedRequest:
            request.headers["Authorization"] = f"Bearer {self._token}"
            return request

        def __repr__(self) -> str:
            return "BearerAuth(token=<hidden>)"

    return BearerAuth


@dataclass(frozen=True)
class Credentials:
    """Kaggle credentials found, and where: the values never show in a repr.

    Attributes:
        source: where they were found, as :func:`describe` says it
            (``KAGGLE_USERNAME/KAGGLE_KEY``, ``~/.kaggle/kaggle.json``, ...).
        token: an API token (sent as Bearer), or ``None``.
        username / key: the legacy pair (sent as basic auth), or ``None``.
    """

    source: str
    token: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    key: str | None = field(default=None, repr=False)

    def auth(self) -> AuthBase:
        """The ``requests`` auth these credentials are sent with."""
        if self.token:
            return bearer_auth(self.token)
        from requests.auth import HTTPBasicAuth  # its repr shows no value

        return HTTPBasicAuth(self.username or "", self.key or "")


def _read_token_file(path: str) -> str | None:
    """The stripped text of a token file, or ``None`` (missing, unreadable, empty)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def _kaggle_json(env: Mapping[str, str]) -> tuple[str, str]:
    """(the path of kaggle.json in force, how to name it)."""
    folder = env.get(config.KAGGLE_CONFIG_DIR)
    if folder:
        return os.path.join(folder, "kaggle.json"), f"${config.KAGGLE_CONFIG_DIR}/kaggle.json"
    return os.path.expanduser(_HOME_KAGGLE_JSON), _HOME_KAGGLE_JSON


def _in_kaggle_notebook(env: Mapping[str, str]) -> bool:
    return config.KAGGLE_KERNEL_RUN_TYPE in env and config.KAGGLE_DATA_PROXY_URL in env


def _from_kaggle_json(path: str, name: str) -> Credentials:
    """kaggle.json's pair; an unusable file is an error, as in kagglehub (never with its text)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError):
        problem = "cannot be read as JSON"
    else:
        missing = [k for k in ("username", "key") if not isinstance(data, dict) or k not in data]
        if not missing:
            return Credentials(name, username=str(data["username"]), key=str(data["key"]))
        problem = "has no " + " and no ".join(f'"{k}"' for k in missing)
    raise InvalidSettingError(
        f"The Kaggle credentials file {name} ({path}) {problem}.",
        fix=Fix(
            'Write it as {{"username": "<your Kaggle username>", "key": "<your API key>"}} '
            "(kaggle.com > Settings > API > Create New Token downloads one), or remove it."
        ),
    )


def _colab_secret(get: Callable[[str], Any], name: str) -> str:
    """A Colab secret with kagglehub's whitespace rule, "" when missing or not granted.

    ``userdata.get`` raises ``SecretNotFoundError`` for a secret that does not
    exist and ``NotebookAccessError`` when the notebook was not given access to
    it (and other errors outside a Colab kernel): each means "not there".
    """
    try:
        value = get(name)
    except Exception:  # Colab's errors: no common base class to name
        return ""
    if not isinstance(value, str):
        return ""
    return value.replace("\r", "").replace("\n", "").strip()


def _from_colab(env: Mapping[str, str]) -> Credentials | None:
    if not config.in_colab():
        return None
    try:
        userdata = importlib.import_module("google.colab.userdata")
    except ImportError:
        return None
    get = userdata.get
    token = _colab_secret(get, config.KAGGLE_API_TOKEN)
    if token:
        return Credentials(f"the Colab secret {config.KAGGLE_API_TOKEN}", token=token)
    username = _colab_secret(get, config.KAGGLE_USERNAME)
    key = _colab_secret(get, config.KAGGLE_KEY)
    if username and key:
        return Credentials(f"the Colab secrets {_BASIC}", username=username, key=key)
    return None


def lookup(environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The first Kaggle credentials found, in kagglehub's order (the module doc), or ``None``.

    Read at every call, as the environment can change between two downloads.

    Raises:
        InvalidSettingError: the kaggle.json in force is there but unusable.
    """
    env = config.kaggle_variables(environ)
    if _in_kaggle_notebook(env) and (
        token := _read_token_file(env.get(config.KAGGLE_API_V1_TOKEN, ""))
    ):
        return Credentials(
            f"{config.KAGGLE_API_V1_TOKEN} (the Kaggle notebook's token)", token=token
        )
    value = env.get(config.KAGGLE_API_TOKEN, "")
    if value and os.path.exists(value):
        if token := _read_token_file(value):
            return Credentials(f"the file {config.KAGGLE_API_TOKEN} names", token=token)
    elif value:
        return Credentials(config.KAGGLE_API_TOKEN, token=value)
    for name in _ACCESS_TOKEN_FILES:
        if token := _read_token_file(os.path.expanduser(name)):
            return Credentials(name, token=token)
    username, key = env.get(config.KAGGLE_USERNAME), env.get(config.KAGGLE_KEY)
    if username and key:
        return Credentials(_BASIC, username=username, key=key)
    path, name = _kaggle_json(env)
    if os.path.exists(path):
        return _from_kaggle_json(path, name)
    return _from_colab(env)


def sources_looked_at(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names of the sources :func:`lookup` reads here, in its order (never a value)."""
    env = config.kaggle_variables(environ)
    names = [f"{config.KAGGLE_API_V1_TOKEN} (Kaggle notebook)"] if _in_kaggle_notebook(env) else []
    names += [config.KAGGLE_API_TOKEN, *_ACCESS_TOKEN_FILES, _BASIC, _kaggle_json(env)[1]]
    if config.in_colab():
        names.append(f"the Colab secrets {config.KAGGLE_API_TOKEN} and {_BASIC}")
    return names


def describe(environ: Mapping[str, str] | None = None) -> str:
    """Where the Kaggle credentials in force come from, for ``%hub_info`` (never a value).

    ``"from KAGGLE_USERNAME/KAGGLE_KEY"``, ``"from ~/.kaggle/kaggle.json"``, ...,
    or ``"none found (public models need none)"``.
    """
    try:
        found = lookup(environ)
    except InvalidSettingError as exc:
        return f"unusable: {exc.message}"
    if found is None:
        return "none found (public models need none)"
    return f"from {found.source}"


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urllib.parse.urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    return (scheme, host, port) if host else None


def is_kaggle_api(url: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``url`` has the scheme, host and port of the Kaggle API endpoint.

    ``False`` when ``KAGGLE_API_ENDPOINT`` is unusable (a Kaggle handle's
    parse says so: :func:`hubmagic.core.handle.parse`).
    """
    try:
        endpoint = config.kaggle_api_endpoint(environ)
    except InvalidSettingError:
        return False
    origin = _origin(url)
    return origin is not None and origin == _origin(endpoint)


def auth_for(url: str) -> AuthBase | None:
    """The ``requests`` auth for a request to ``url``: credentials for the Kaggle API
    endpoint only, ``None`` for every other host."""
    if not is_kaggle_api(url):
        return None
    found = lookup()
    return found.auth() if found is not None else None


def _model_page(url: str) -> str:
    """The Kaggle page of the model ``url`` downloads, where its license is accepted."""
    segments = [s for s in urllib.parse.urlsplit(url).path.split("/") if s]
    if segments[:3] == ["api", "v1", "models"]:
        segments = segments[2:]
    if len(segments) >= 3 and segments[0] == "models":
        return f"{config.DEFAULT_KAGGLE_API_ENDPOINT}/models/{segments[1]}/{segments[2]}"
    return "the model's Kaggle page"


def denied_fix(url: str) -> Fix | None:
    """What to do after a 401 / 403 from ``url`` when it is the Kaggle API (else ``None``)."""
    if not is_kaggle_api(url):
        return None
    page = _model_page(url)
    try:
        found = lookup()
    except InvalidSettingError as exc:
        return Fix(f"{exc.message} {exc.fix.text if exc.fix else ''}".strip())
    if found is not None:
        return Fix(
            f"Kaggle refused the credentials from {found.source}: a gated model needs its "
            f"license accepted on its page ({page}) with that account, a private model needs "
            "an account that can see it, and an expired token a new one (kaggle.com > "
            "Settings > API)."
        )
    return Fix(
        "This model needs Kaggle credentials and none were found (looked at: "
        f"{', '.join(sources_looked_at())}). Add one: save the kaggle.json that kaggle.com > "
        "Settings > API > Create New Token downloads in ~/.kaggle/ (or in "
        f"${config.KAGGLE_CONFIG_DIR}), set {config.KAGGLE_USERNAME} and {config.KAGGLE_KEY} "
        f"(or {config.KAGGLE_API_TOKEN}), or in Colab add them as notebook secrets (the key "
        "icon) with notebook access on. A gated model also needs its license accepted on its "
        f"page ({page})."
    )
