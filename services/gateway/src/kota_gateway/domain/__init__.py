"""Domain: pure rules the gateway applies to what the services return (air-quality index, flood alert levels)."""
