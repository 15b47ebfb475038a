"""The ``nself`` command: ``nself tenant billing ...`` (old form: ``nself billing ...``)."""
