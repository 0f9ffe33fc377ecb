"""formservice/enrolment."""
