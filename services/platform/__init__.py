"""What the three services share: settings, database, outbox, inbox, CloudEvents, telemetry."""
