"""UO4: the lump sum planned, paid and documented."""
