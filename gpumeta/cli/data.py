"""Commands on datasets: validate."""
