"""The setup layer's constants that front ends need at import time (kept light on purpose)."""

MODES = ("auto", "local", "cpu", "gpu", "tpu")
"""``auto`` detects; the others force a profile."""
IO_DEVICE_LOCALHOST = "/job:localhost"
"""The ``LoadOptions`` io device a remote TPU worker needs to read this host's cache."""
DEFAULT_PROBE_HANDLE = "https://tfhub.dev/google/nnlm-en-dim50/2"
"""A small, long-lived model: what ``--uncompressed`` asks the hub about by default
(``HUBMAGIC_ENDPOINT`` applies, so a mirror is asked instead of tfhub.dev)."""
