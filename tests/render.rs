//! The HTML report renders in a real browser (headless Chromium) at phone and desktop widths
//! without console errors. Skipped, with a note, where no `chromium` is installed (`.ci/run`
//! installs it when it can).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Render `html` at `width` into `png`; return Chromium's log.
fn render(browser: &str, html: &Path, png: &Path, width: u32, profile: &Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},2400"))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_report_renders_at_phone_and_desktop_widths_without_console_errors() {
    let Some(browser) = chromium() else {
        eprintln!("note: no chromium installed; the render check is skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    kubetrail()
        .args(["gen", "--events", "5000", "--seed", "5", "--out"])
        .arg(&log)
        .assert()
        .success();
    let lake = dir.path().join("lake");
    ingest(&lake, &[&log], &[]);
    let html = dir.path().join("report.html");
    kubetrail()
        .args(["report", "--quiet", "--lake"])
        .arg(&lake)
        .arg("--out")
        .arg(&html)
        .assert()
        .success();
    for width in [390, 1280] {
        let png = dir.path().join(format!("report-{width}.png"));
        let profile = dir.path().join(format!("profile-{width}"));
        let log = render(browser, &html, &png, width, &profile);
        let console: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("CONSOLE")
                    || l.contains("Refused to")
                    || l.contains("Content Security Policy")
                    || l.contains("net::ERR_")
            })
            .collect();
        assert!(console.is_empty(), "console at {width}px: {console:#?}");
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "screenshot at {width}px is {size} bytes");
        if let Ok(keep) = std::env::var("KUBETRAIL_KEEP_SCREENSHOTS") {
            let _ = std::fs::copy(&png, Path::new(&keep).join(format!("report-{width}.png")));
        }
    }
}
