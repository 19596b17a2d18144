"""Kota sensors service."""
