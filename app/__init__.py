"""wmpo-app: the operator's application (CLI now; the terminal UI and cycle come later)."""
