"""Payment providers: the port (port.py) and its adapters (local.py, stripe.py)."""
