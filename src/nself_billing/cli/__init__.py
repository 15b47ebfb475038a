"""The ``nself`` command: ``nself tenant billing ...`` (and the deprecated ``nself billing ...``)."""
