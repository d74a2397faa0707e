"""Test stand-in for ComfyUI's ``comfy_api`` package (only what the pack uses)."""
