"""formservice/web/middleware."""
