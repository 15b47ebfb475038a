"""``python -m nself_billing ...`` is the ``nself`` command."""

from .cli.main import main

main()
