"""Local stand-ins for the SMS gateway and a webhook endpoint; see alerts.smsgw.app."""
