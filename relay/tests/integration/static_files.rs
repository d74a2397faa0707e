//! The pages and the wasm package: paths no file can have are not found, not server errors.

use crate::common;

use common::{Relay, expect_error};

#[tokio::test]
async fn paths_too_long_for_any_file_are_not_found() {
    let relay = Relay::start().await;
    assert_eq!(relay.get("/").send().await.unwrap().status(), 200);
    let long_name = "x".repeat(300);
    let escaped_name = "%78".repeat(300);
    let deep = "x/".repeat(3000);
    for path in [
        format!("/{long_name}"),
        format!("/{escaped_name}"),
        format!("/pkg/{long_name}.js"),
        format!("/{deep}"),
    ] {
        let response = relay.get(&path).send().await.unwrap();
        expect_error(response, 404, "route_not_found").await;
    }
    // Just under the limits: looked up, and simply absent.
    let response = relay
        .get(&format!("/{}", "x".repeat(255)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    relay.stop().await;
}
