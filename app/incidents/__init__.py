"""Incidents API: list, timeline, acknowledge (API or SMS link), resolve, notification log."""
