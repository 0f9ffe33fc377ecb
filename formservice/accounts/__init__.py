"""formservice/accounts."""
