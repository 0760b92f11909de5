"""`app.main_window.MainWindow`: the name design.md's automation contract gives the window (it lives in app.window)."""

from app.window.main_window import IDLE_TEXT, MainWindow, make_settings

__all__ = ["IDLE_TEXT", "MainWindow", "make_settings"]
