"""formservice/store/tinydb."""
