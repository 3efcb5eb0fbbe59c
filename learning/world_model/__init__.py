"""The action-conditioned video world model (WMPO section 3.2) and imagination."""
