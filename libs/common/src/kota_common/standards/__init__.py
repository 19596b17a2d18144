"""Public standards Kota computes in several services, implemented once: ISPU (air) and Siaga (flood)."""
