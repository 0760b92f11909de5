"""The window's state without Qt: the model, the form's settings, the runs, their curves; each announces its changes."""
