"""Demo pages: a plain browser frontend that uses the JSON API exactly as a real one would."""
