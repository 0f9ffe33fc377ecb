"""formservice/notice/site."""
