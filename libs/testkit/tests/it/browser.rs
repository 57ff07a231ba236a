//! The browser helper against a page served by axum in the test: type into a form, click,
//! the server's answer appears; screenshots at phone and desktop sizes.
use axum::{
    Router,
    http::header,
    response::IntoResponse,
    routing::{get, post},
};
use testkit::browser::{Browser, DESKTOP, PHONE, png_size};

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Greeter</title></head>
<body style="font-family: sans-serif; margin: 2rem">
<h1>Greeter</h1>
<form id="f"><input id="name" name="name" autocomplete="off"><button id="go" type="submit">Greet</button></form>
<p id="out"></p>
<script>
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/greet', { method: 'POST', body: document.getElementById('name').value });
  document.getElementById('out').textContent = await r.text();
});
</script></body></html>"#;

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

async fn greet(body: String) -> String {
    format!(
        "Hello, {}! ({} characters)",
        body.trim(),
        body.trim().chars().count()
    )
}

async fn serve() -> anyhow::Result<String> {
    let app = Router::new()
        .route("/", get(page))
        .route("/greet", post(greet));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/"))
}

#[tokio::test]
async fn a_form_is_typed_into_and_clicked_and_the_answer_appears_with_screenshots()
-> anyhow::Result<()> {
    let url = serve().await?;
    let browser = Browser::start("a_form_is_typed_into_and_clicked").await?;
    browser.open(&url).await?;
    assert_eq!(browser.text("h1").await?, "Greeter");
    browser.type_into("#name", "Ada Lovelace").await?;
    browser.click("#go").await?;
    let shown = browser
        .wait_for_text("#out", "Hello, Ada Lovelace!")
        .await?;
    assert_eq!(shown, "Hello, Ada Lovelace! (12 characters)");

    let [phone, desktop] = browser.screenshots("greeted").await?;
    assert!(phone.starts_with(browser.out_dir()) && phone.ends_with("greeted-phone.png"));
    assert_eq!(png_size(&phone)?, (PHONE.width, PHONE.height));
    assert_eq!(png_size(&desktop)?, (DESKTOP.width, DESKTOP.height));
    assert!(std::fs::metadata(&desktop)?.len() > 1_000, "a real picture");
    browser.close().await
}

#[tokio::test]
async fn waiting_for_what_never_appears_fails_within_the_bound() -> anyhow::Result<()> {
    let url = serve().await?;
    let browser = Browser::start("waiting_fails_within_the_bound").await?;
    browser.open(&url).await?;
    let started = std::time::Instant::now();
    let Err(err) = browser.wait_for_text("#out", "never shown").await else {
        anyhow::bail!("text that is never shown was found");
    };
    assert!(err.to_string().contains("never shown"), "{err}");
    assert!(started.elapsed() < testkit::browser::WAIT * 2);
    assert!(browser.wait_for("#missing").await.is_err());
    browser.close().await
}
