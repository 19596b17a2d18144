"""Adapters: typed gRPC clients of the services the gateway fronts, and the one place gRPC errors are translated."""
