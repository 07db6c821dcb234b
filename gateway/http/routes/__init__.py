"""One module per endpoint group; each builds its handlers around a ServicesRef."""
