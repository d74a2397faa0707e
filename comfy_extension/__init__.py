"""RTC Node for ComfyUI: real-time AI video over WebRTC (WHIP/WHEP) through rtc-relay."""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():  # noqa: ANN201 - ComfyUI's loader calls this
    from .rtc_node.extension import RTCNodeExtension

    return RTCNodeExtension()
