"""Tool services: running one call (checks, audit), confirming destructive calls, and the loop."""
