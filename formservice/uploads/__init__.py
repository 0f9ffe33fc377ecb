"""formservice/uploads."""
