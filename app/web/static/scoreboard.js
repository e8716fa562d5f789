// scoreboard
