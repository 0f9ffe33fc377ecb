"""The fault campaign of issue #10: the real service in child processes, killed, starved of disk,
its relay refusing, its login hammered; every promise checked from outside."""
