"""Use cases: each wires domain, store and provider in one transaction."""
