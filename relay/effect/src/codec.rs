//! Where the effect's pictures meet openh264: a decoded frame scaled into a [`Picture`], and a
//! picture seen as the encoder's input. Shared by the media path and the P7 benchmark, so the
//! benchmark measures the conversions the stage really does.

use openh264::decoder::DecodedYUV;
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
