"""The TUI's screens: playground, compare, sessions, and the health / help / hop-detail modals."""
