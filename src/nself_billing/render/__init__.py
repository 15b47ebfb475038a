"""How results look, for every face: one module per object, each with its JSON record (the
one dict the CLI's ``--format json``, the function API and the HTTP API print), its table and
text, and its CSV columns. No click, no store, no provider: data in, strings and dicts out."""
