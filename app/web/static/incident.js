// incident
