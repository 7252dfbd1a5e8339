//! The console's static files, compiled into the binary: htmx (vendored from the npm
//! registry's `htmx.org` 2.0.11 tarball, `dist/htmx.min.js`, SHA-256
//! d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717, BSD-2-Clause, its
//! licence beside it), the style sheet and the console's own small script. Served without a
//! session (they hold nothing secret); versioned names are cached for a day.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/assets/htmx-2.0.11.min.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/assets/console.js"),
    ),
];

pub(super) fn routes() -> Router {
    Router::new().route("/console/assets/{name}", axum::routing::get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, ctype, body)) => {
            let mut r = (*body).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            );
            r
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn vendored_htmx_is_the_published_file() {
        let (_, _, body) = super::FILES[0];
        assert_eq!(
            hex::encode(Sha256::digest(body.as_bytes())),
            "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
        );
    }
}
