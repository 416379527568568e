"""Weather federate ``localWeather``: publishes the rows of ``weather.dat`` as TESP's weather agent does."""
