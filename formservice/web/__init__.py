"""formservice/web."""
