//! Process-level tests of `http-get` as an HTTP client against Python's `http.server` (a peer
//! that is not levent): redirects with `-L` and RFC 9110's method rules, credentials kept from
//! other origins, relative locations and loops; `--data @FILE` uploads streamed with their
//! length, to Python and to levent's own `http-server`. Skipped (saying why) without python3,
//! failed instead under `LEVENT_CI`.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// The Python peer: two origins on loopback.
struct Peer {
    child: Child,
    a: u16,
    b: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer() -> Option<Peer> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redirects.py");
    let spawned = Command::new("python3")
        .arg(&fixture)
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = spawned else {
        assert!(
            std::env::var_os("LEVENT_CI").is_none(),
            "python3 is missing (CI installs it)"
        );
        eprintln!("skipped: python3 is missing");
        return None;
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ports: Vec<u16> = line
        .trim()
        .strip_prefix("ports ")
        .unwrap_or_else(|| panic!("the peer said {line:?}"))
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    Some(Peer {
        child,
        a: ports[0],
        b: ports[1],
    })
}

fn get(args: &[&str]) -> Output {
    Command::new(example("http-get"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn http_get_follows_redirects_with_the_method_rules_of_rfc_9110() {
    let Some(p) = peer() else {
        return;
    };
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", p.a);
    // Without -L the redirect is the answer: its body, and a status that is not a success.
    let out = get(&[&url("/r302")]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(1), "redirect body\n".into())
    );
    for (path, method, want) in [
        ("/r301", "GET", "GET len=4"),
        ("/r302", "POST", "GET len=0"),
        ("/r303", "POST", "GET len=0"),
        ("/r303", "PUT", "GET len=0"),
        ("/r307", "POST", "POST len=4"),
        ("/r308", "PUT", "PUT len=4"),
        ("/r301", "PUT", "PUT len=4"),
    ] {
        let out = get(&[&url(path), "-L", "-X", method, "-d", "data"]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{path} {method}: {text}");
        assert!(
            text.starts_with(&format!("{want} ")),
            "{path} {method}: {text}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Location: /method"),
            "both heads on stderr: {err}"
        );
    }
    // A relative location, against the request's directory.
    let out = get(&[&url("/dir/rel"), "-L"]);
    assert!(
        stdout(&out).ends_with("path=/method?from=rel\n"),
        "{}",
        stdout(&out)
    );
    // A loop ends after 20 redirects, with one line.
    let out = get(&[&url("/loop"), "-L"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than 20 redirects"), "{err}");
}

#[test]
fn http_get_sends_credentials_to_the_same_origin_only() {
    let Some(p) = peer() else {
        return;
    };
    let auth = "Authorization: Bearer s3cret";
    let same = get(&[&format!("http://127.0.0.1:{}/r302", p.a), "-L", "-H", auth]);
    assert!(
        stdout(&same).contains("auth=Bearer s3cret"),
        "{}",
        stdout(&same)
    );
    let other = get(&[&format!("http://127.0.0.1:{}/other", p.a), "-L", "-H", auth]);
    assert_eq!(other.status.code(), Some(0));
    let text = stdout(&other);
    assert!(
        text.contains("auth=-"),
        "not carried to port {}: {text}",
        p.b
    );
}

/// A file of `n` reproducible bytes.
fn file_of(n: usize, tag: &str) -> (PathBuf, Vec<u8>) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let path = std::env::temp_dir().join(format!("levent-upload-{tag}-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

#[test]
fn http_get_streams_a_file_upload_to_python_and_to_levents_server() {
    let Some(p) = peer() else {
        return;
    };
    let (path, data) = file_of(5 << 20, "py");
    let at = format!("@{}", path.display());
    let out = get(&[&format!("http://127.0.0.1:{}/upload", p.a), "--data", &at]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (len, hash) = stdout(&out)
        .trim()
        .split_once(' ')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    assert_eq!(len, data.len().to_string());
    let want = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(hash, stdout(&want).trim());
    // levent's http-server echoes it back, byte for byte.
    let mut server = Command::new(example("http-server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    // Keep reading what it prints, so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let out = get(&[&format!("{base}/echo"), "-d", &at]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "{} bytes back of {}",
        out.stdout.len(),
        data.len()
    );
    // A file that does not exist is one clear error.
    let out = get(&[
        &format!("http://127.0.0.1:{}/upload", p.a),
        "-d",
        "@/nonexistent/file",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/file"));
    let _ = std::fs::remove_file(path);
}
