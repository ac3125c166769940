"""One blueprint per resource; each view parses, calls one service, serialises."""
