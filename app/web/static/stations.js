// stations
