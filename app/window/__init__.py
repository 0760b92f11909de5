"""The main window: its composition, layout, menus, file actions and messages."""
