"""Use cases that combine several service calls (the city dashboard)."""
