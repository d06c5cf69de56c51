"""The weekly cycle running by itself: polling, drafting, sending and housekeeping."""
