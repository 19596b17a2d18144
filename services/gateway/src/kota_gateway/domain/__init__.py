"""Domain: pure rules the gateway applies to what the services return (OData queries, SensorThings entities, ISPU, Siaga, dashboard figures)."""
