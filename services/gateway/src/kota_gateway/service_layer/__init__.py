"""Use cases over the typed clients: SensorThings reads, the city dashboard, complaint listing, inbox and live updates."""
