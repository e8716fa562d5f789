"""The foundation that alerts and app build on: settings, database, the catalogue's
tables and service, domain errors. Imports sensors, never alerts or app."""
