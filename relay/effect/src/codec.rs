//! Where the effect's pictures meet openh264: a decoded frame scaled into a [`Picture`], and a
//! picture seen as the encoder's input, and the encoder itself. Shared by the media path and the P7 benchmark, so the
//! benchmark measures the conversions the stage really does.

use openh264::OpenH264API;
use openh264::decoder::DecodedYUV;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode,
};
use openh264::formats::{YUVSlices, YUVSource};

use crate::kernels::{self, Picture, PlaneRef};

/// Scales a decoded frame into `picture`, whatever their sizes.
pub fn scale_decoded(yuv: &DecodedYUV<'_>, picture: &mut Picture) {
    let (width, height) = yuv.dimensions();
    let (chroma_width, chroma_height) = yuv.dimensions_uv();
    let (y_stride, u_stride, v_stride) = yuv.strides();
    let plane = |data, stride, width, height| PlaneRef {
        data,
        stride,
        width,
        height,
    };
    kernels::scale_into(
        [
            plane(yuv.y(), y_stride, width, height),
            plane(yuv.u(), u_stride, chroma_width, chroma_height),
            plane(yuv.v(), v_stride, chroma_width, chroma_height),
        ],
        picture,
    );
}

/// The encoder's view of a picture.
pub fn as_source(picture: &Picture) -> YUVSlices<'_> {
    let chroma_width = picture.chroma_width();
    YUVSlices::new(
        (&picture.y, &picture.u, &picture.v),
        (picture.width, picture.height),
        (picture.width, chroma_width, chroma_width),
    )
}

/// The stage's encoder: `fps` at most, a keyframe every `keyframe_every` frames unless forced
/// sooner.
pub fn encoder(fps: f32, keyframe_every: u32) -> Result<Encoder, openh264::Error> {
    let config = EncoderConfig::new()
        // About 0.25 bit per pixel at 512² and 24 fps: clean enough to see the effect.
        .bitrate(BitRate::from_bps(1_500_000))
        .max_frame_rate(FrameRate::from_hz(fps))
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(false)
        .complexity(Complexity::Low)
        .scene_change_detect(false)
        .background_detection(false)
        .adaptive_quantization(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(keyframe_every));
    Encoder::with_api_config(OpenH264API::from_source(), config)
}
