"""Submission: Front organisations submit, amend, withdraw and follow their critiques over HTTP."""
