"""What the office takes away: statistics (and exports, reminders, data rights)."""
