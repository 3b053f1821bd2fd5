"""Tracking's gRPC API for agencies: translate protobuf to store calls and back, nothing more."""

from services.tracking.grpc_api.service import AgencyService

__all__ = ["AgencyService"]
