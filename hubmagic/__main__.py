"""``python -m hubmagic``: runs the command line (see :mod:`hubmagic.cli`)."""

from hubmagic.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
