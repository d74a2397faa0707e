//! Socket pixels ⇄ WebCodecs `VideoFrame`.

use rtc_protocol::{PixelFormat, check_payload};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{VideoFrame, VideoFrameBufferInit, VideoFrameCopyToOptions, VideoPixelFormat};

use crate::convert;
use crate::error::{ClientError, ErrorCode, Result};

/// Reusable buffers for RGB frames, which need expanding before they fit a `VideoFrame`.
#[derive(Debug, Default)]
pub struct Scratch {
    rgb: Vec<u8>,
    rgba: Vec<u8>,
}

/// A `VideoFrame` holding a copy of `pixels`, a JS view (a socket message's payload, or the
/// caller's array). RGBA and I420 go from the JS buffer straight into the frame; RGB is
/// copied into wasm and expanded to RGBA on the way (VideoFrame has no packed 24-bit format).
/// The frame constructor copies its input, so nothing here outlives the call.
pub fn from_pixels(
    format: PixelFormat,
    width: u32,
    height: u32,
    timestamp_us: f64,
    pixels: &js_sys::Uint8Array,
    scratch: &mut Scratch,
) -> Result<VideoFrame> {
    check_payload(format, width, height, pixels.length() as usize)
        .map_err(|e| ClientError::new(ErrorCode::InvalidFrame, e.to_string()))?;
    let pixel_format = match format {
        PixelFormat::I420 => VideoPixelFormat::I420,
        // JPEG never gets here: its length check above cannot pass for a pixel layout.
        _ => VideoPixelFormat::Rgba,
    };
    let init = VideoFrameBufferInit::new_with_f64(height, width, pixel_format, timestamp_us);
    let frame = if format == PixelFormat::Rgb8 {
        scratch.rgb.resize(pixels.length() as usize, 0);
        pixels.copy_to(&mut scratch.rgb);
        convert::rgb_to_rgba(&scratch.rgb, &mut scratch.rgba);
        VideoFrame::new_with_u8_slice_and_video_frame_buffer_init(&mut scratch.rgba, &init)
    } else {
        VideoFrame::new_with_u8_array_and_video_frame_buffer_init(pixels, &init)
    };
    frame.map_err(|e| ClientError::js(ErrorCode::InvalidFrame, "VideoFrame", &e))
}

/// Copies a frame out as `format`, `offset` bytes into a new JS buffer (room for a header).
/// RGBA comes from the browser's own conversion; RGB and I420 from RGBA here unless the frame
/// already is I420.
pub async fn to_pixels(
    frame: &VideoFrame,
    format: PixelFormat,
    offset: usize,
) -> Result<(js_sys::Uint8Array, u32, u32)> {
    let (width, height) = (frame.display_width(), frame.display_height());
    let native_i420 = frame.format() == Some(VideoPixelFormat::I420)
        && frame.coded_width() == width
        && frame.coded_height() == height;
    let copy_as = if format == PixelFormat::I420 && native_i420 {
        None
    } else {
        Some(VideoPixelFormat::Rgba)
    };
    let options = VideoFrameCopyToOptions::new();
    if let Some(f) = copy_as {
        options.set_format(f);
    }
    let copied_len = match copy_as {
        Some(_) => width as usize * height as usize * 4,
        None => format.frame_len(width, height),
    };
    let buffer = js_sys::Uint8Array::new_with_length((offset + copied_len) as u32);
    let target = buffer.subarray(offset as u32, (offset + copied_len) as u32);
    JsFuture::from(
        frame
            .copy_to_with_u8_array_and_options(&target, &options)
            .unchecked_into::<js_sys::Promise>(),
    )
    .await
    .map_err(|e| ClientError::js(ErrorCode::InvalidFrame, "VideoFrame.copyTo", &e))?;
    if copy_as.is_none() || format == PixelFormat::Rgba8 {
        return Ok((buffer, width, height));
    }
    let rgba = target.to_vec();
    let mut out = Vec::new();
    match format {
        PixelFormat::Rgb8 => convert::rgba_to_rgb(&rgba, &mut out),
        _ => convert::rgba_to_i420(&rgba, width as usize, height as usize, &mut out),
    }
    let converted = js_sys::Uint8Array::new_with_length((offset + out.len()) as u32);
    converted
        .subarray(offset as u32, (offset + out.len()) as u32)
        .copy_from(&out);
    Ok((converted, width, height))
}

/// Closes a frame given as a `JsValue` (stream chunks).
pub fn close(value: &JsValue) {
    if let Some(frame) = value.dyn_ref::<VideoFrame>() {
        frame.close();
    }
}

/// Awaits the promise a JS method call returned.
pub async fn settle(
    call: std::result::Result<JsValue, JsValue>,
) -> std::result::Result<JsValue, JsValue> {
    JsFuture::from(js_sys::Promise::unchecked_from_js(call?)).await
}

/// The `VideoFrame` the page's JPEG codec is `decoding`, which must be `width` × `height`.
pub async fn from_jpeg(
    decoding: std::result::Result<JsValue, JsValue>,
    width: u32,
    height: u32,
) -> Result<VideoFrame> {
    let frame: VideoFrame = settle(decoding)
        .await
        .map_err(|e| ClientError::js(ErrorCode::InvalidFrame, "JPEG decoding", &e))?
        .unchecked_into();
    if (frame.display_width(), frame.display_height()) != (width, height) {
        frame.close();
        return Err(ClientError::new(
            ErrorCode::InvalidFrame,
            "JPEG frame of another size than its header says",
        ));
    }
    Ok(frame)
}
