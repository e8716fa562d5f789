"""The bureau's pages: overview, sections, incidents, stations, and the offline API docs."""
