//! The admin status page in a real browser, on both binaries: headless
//! Chromium (Debian package chromium, installed by `.ci/run`) loads
//! `GET /` of the admin listener, runs its script against `/status`, and
//! the test reads the DOM it built (servers, health, drained) and keeps a
//! phone-sized screenshot in `target/test-artifacts/`.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::client::{get, Client};
use support::upstream::Origin;
use support::Weir;

/// Chromium, headless; `args` after the common ones. Its stdout.
fn chromium(args: &[&str]) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            // Lets the page's fetch of /status finish before the dump.
            "--virtual-time-budget=4000",
        ])
        .args(args)
        .output()
        .expect("chromium (Debian package chromium, installed by .ci/run)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn the_status_page_shows_every_server_in_a_browser(bin: &str) {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let config = format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n[[upstream]]\nname = \"shop\"\nservers = [{{ addr = \"{}\", weight = 3 }}, {{ addr = \"{}\" }}]\n",
        a.addr, b.addr
    );
    let w = Weir::start_with(bin, &config, &["--quiet"]);
    let admin = w.admin_addr();
    for _ in 0..8 {
        assert_eq!(get(w.addr, "/name").status, 200);
    }
    let mut c = Client::connect(admin);
    let form = format!("upstream=shop&server={}", b.addr);
    c.send(
        format!(
            "POST /servers/drain HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    );
    assert_eq!(c.read().status, 200);
    let page = get(admin, "/");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "no external assets"
    );
    let url = format!("http://{admin}/");
    let dom = chromium(&["--dump-dom", &url]);
    assert!(dom.contains("<h2>shop (round-robin)</h2>"), "{dom}");
    // The servers' rows, as the script built them from /status.
    let row_a = format!(
        "<tr><td>{}</td><td class=\"up\">up</td><td>3</td><td>0</td>",
        a.addr
    );
    let row_b = format!(
        "<tr><td>{}</td><td class=\"drained\">drained</td><td>1</td><td>0</td>",
        b.addr
    );
    assert!(dom.contains(&row_a), "{dom}");
    assert!(dom.contains(&row_b), "{dom}");
    assert!(dom.contains("generation 1 · up "), "{dom}");
    assert!(dom.contains("<div id=\"error\"></div>"), "{dom}");
    // A phone-sized screenshot, kept as an artifact.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join(format!("status-page-{bin}.png"));
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=412,915",
        &url,
    ]);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n") && png.len() > 2000,
        "{} bytes",
        png.len()
    );
}

each_frontend!(the_status_page_shows_every_server_in_a_browser);
