"""formservice/staff: the exam office's accounts (invitation, password and TOTP, two-step login)."""
