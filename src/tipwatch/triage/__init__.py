"""Triage: country attribution, linking, priority, routing packages and the work queue."""
