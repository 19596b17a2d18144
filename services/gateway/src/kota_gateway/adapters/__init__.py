"""Adapters: the gRPC clients of the services the gateway fronts."""
