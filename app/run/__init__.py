"""Runs off the GUI thread: the training thread, torchrun processes, tasks, the event buffer and its drain."""
