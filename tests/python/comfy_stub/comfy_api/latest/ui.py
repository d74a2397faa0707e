"""Stand-in for ``comfy_api.latest.ui`` (no preview helpers are used by the pack)."""
