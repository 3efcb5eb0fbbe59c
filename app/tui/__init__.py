"""The operator's terminal UI (Textual): one pane per job an operator does."""
