"""Config generators: one readable case description (YAML) to every HELICS federate JSON and the runner JSON."""
