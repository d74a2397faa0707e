"""RTC Node for ComfyUI: ComfyUI loads this folder as the pack, which is in comfy_extension/."""

from .comfy_extension import comfy_entrypoint

WEB_DIRECTORY = "./comfy_extension/web"
__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
