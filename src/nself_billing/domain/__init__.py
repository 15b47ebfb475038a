"""Pure billing logic: no I/O, no clock reads, no SQL. Every function takes what it needs."""
