//! The embedded Daydream stand-in: REST under `/local/v1`, WHIP/WHEP media under
//! `/local/live`. Runs by default so the product works with no account and no network.

pub mod media;
