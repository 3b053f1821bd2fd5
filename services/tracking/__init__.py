"""Tracking: agencies receive and answer cases over gRPC; deadlines live here."""
