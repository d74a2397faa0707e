//! WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) over `fetch`: POST the offer, follow
//! redirects (fetch keeps method and body on 307), read the session `Location`, handle WHEP's
//! 406 counter-offer and 409 + `Retry-After`, trickle PATCH (405/501/422 mean "no trickle"),
//! DELETE on stop. Generic: any URL, optional bearer token.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

use crate::error::{ClientError, ErrorCode, Result};

/// Where to signal and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Endpoint URL (absolute or relative to the page).
    pub url: String,
    /// Bearer token; no `Authorization` header at all when `None`.
    pub token: Option<String>,
}

/// The session resource the server created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Absolute session URL (for PATCH and DELETE).
    pub location: String,
    /// ETag of the ICE session, sent as `If-Match` on trickle PATCHes.
    pub etag: Option<String>,
    /// `Livepeer-Playback-URL`, when the server announced a WHEP URL.
    pub playback_url: Option<String>,
}

/// What the server answered to an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// 201 with the SDP answer.
    Answer(Session, String),
    /// WHEP 406 with the server's own offer; answer it with [`send_answer`].
    CounterOffer(Session, String),
}

/// `Retry-After` in milliseconds; HTTP dates are not worth parsing here, so they count as 1 s.
pub fn parse_retry_after(value: &str) -> u32 {
    value
        .trim()
        .parse::<u32>()
        .map_or(1000, |s| s.saturating_mul(1000))
}

struct Answer {
    status: u16,
    headers: Headers,
    url: String,
    body: String,
}

async fn send(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
    extra: &[(&str, &str)],
) -> Result<Answer> {
    let what = format!("{method} {}", redact(url));
    let init = RequestInit::new();
    init.set_method(method);
    let headers = Headers::new().map_err(|e| ClientError::js(ErrorCode::Unsupported, &what, &e))?;
    let header = |k: &str, v: &str| {
        headers
            .set(k, v)
            .map_err(|e| ClientError::js(ErrorCode::InvalidOptions, &what, &e))
    };
    if let Some(token) = token {
        header("Authorization", &format!("Bearer {token}"))?;
    }
    if let Some((content_type, text)) = body {
        header("Content-Type", content_type)?;
        init.set_body(&JsValue::from_str(text));
    }
    for (k, v) in extra {
        header(k, v)?;
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(url, &init)
        .map_err(|e| ClientError::js(ErrorCode::InvalidOptions, &what, &e))?;
    let fetch = js_sys::Reflect::get(&js_sys::global(), &"fetch".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
        .map_err(|e| ClientError::js(ErrorCode::Unsupported, "fetch", &e))?;
    let promise: js_sys::Promise = fetch
        .call1(&JsValue::NULL, &request)
        .map_err(|e| ClientError::js(ErrorCode::Network, &what, &e))?
        .unchecked_into();
    let response: Response = JsFuture::from(promise)
        .await
        .map_err(|e| ClientError::js(ErrorCode::Network, &what, &e))?
        .unchecked_into();
    let text = match response.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    };
    Ok(Answer {
        status: response.status(),
        headers: response.headers(),
        url: response.url(),
        body: text.unwrap_or_default(),
    })
}

/// URL without its query string (tokens sometimes ride there) for messages.
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    fn session(&self, what: &str) -> Result<Session> {
        let location = self.header("Location").ok_or_else(|| {
            ClientError::new(
                ErrorCode::Protocol,
                format!("{what}: answer has no Location header"),
            )
        })?;
        // Relative to the URL that answered, which may differ from ours after a redirect.
        let location = web_sys::Url::new_with_base(&location, &self.url)
            .map(|u| u.href())
            .map_err(|e| ClientError::js(ErrorCode::Protocol, what, &e))?;
        Ok(Session {
            location,
            etag: self.header("ETag"),
            playback_url: self.header("Livepeer-Playback-URL"),
        })
    }

    fn is_sdp(&self) -> bool {
        self.header("Content-Type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/sdp"))
    }

    fn error(&self, what: &str) -> ClientError {
        let retry = self.header("Retry-After").map(|v| parse_retry_after(&v));
        ClientError::http(self.status, what, &self.body, retry)
    }
}

/// POSTs an offer to a WHIP or WHEP endpoint.
pub async fn post_offer(endpoint: &Endpoint, offer: &str) -> Result<Offered> {
    let what = "SDP offer";
    let answer = send(
        "POST",
        &endpoint.url,
        endpoint.token.as_deref(),
        Some(("application/sdp", offer)),
        &[],
    )
    .await?;
    match answer.status {
        200 | 201 if answer.is_sdp() || !answer.body.is_empty() => {
            let session = answer.session(what)?;
            Ok(Offered::Answer(session, answer.body))
        }
        406 if answer.is_sdp() && !answer.body.is_empty() => {
            let session = answer.session(what)?;
            Ok(Offered::CounterOffer(session, answer.body))
        }
        200 | 201 => Err(ClientError::new(
            ErrorCode::BadSdp,
            "SDP offer: the server answered without SDP",
        )),
        _ => Err(answer.error(what)),
    }
}

/// Sends the answer to a WHEP counter-offer.
pub async fn send_answer(session: &Session, token: Option<&str>, answer_sdp: &str) -> Result<()> {
    let answer = send(
        "PATCH",
        &session.location,
        token,
        Some(("application/sdp", answer_sdp)),
        &[],
    )
    .await?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(answer.error("SDP answer to the counter-offer"))
    }
}

/// Outcome of a trickle-ICE PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trickle {
    /// 200 with the server's fragment (ICE restart) and its new ETag.
    Restarted(String, Option<String>),
    /// 204: accepted.
    Accepted,
    /// 405, 501 or 422: the server does not do trickle or restart.
    Unsupported,
}

/// PATCHes an `application/trickle-ice-sdpfrag`; `restart` sends `If-Match: "*"`.
pub async fn patch_fragment(
    session: &Session,
    token: Option<&str>,
    fragment: &str,
    restart: bool,
) -> Result<Trickle> {
    let if_match = if restart {
        "\"*\"".to_owned()
    } else {
        session.etag.clone().unwrap_or_else(|| "\"*\"".to_owned())
    };
    let answer = send(
        "PATCH",
        &session.location,
        token,
        Some(("application/trickle-ice-sdpfrag", fragment)),
        &[("If-Match", &if_match)],
    )
    .await?;
    match answer.status {
        200 => Ok(Trickle::Restarted(
            answer.body.clone(),
            answer.header("ETag"),
        )),
        204 => Ok(Trickle::Accepted),
        405 | 422 | 501 => Ok(Trickle::Unsupported),
        _ => Err(answer.error("ICE PATCH")),
    }
}

/// Ends the session. Errors are returned for logging; the session is gone either way.
pub async fn delete(session: &Session, token: Option<&str>) -> Result<()> {
    let answer = send("DELETE", &session.location, token, None, &[]).await?;
    if (200..300).contains(&answer.status) || answer.status == 404 {
        Ok(())
    } else {
        Err(answer.error("DELETE session"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_or_default() {
        assert_eq!(parse_retry_after("3"), 3000);
        assert_eq!(parse_retry_after(" 0 "), 0);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 1000);
        assert_eq!(redact("http://x/whip?token=abc"), "http://x/whip");
    }
}
