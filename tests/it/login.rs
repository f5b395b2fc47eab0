//! Registries behind htpasswd: `login`, `logout`, `--creds`, and what a pull without
//! credentials says.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;

use crate::images;
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::*;

const USER: &str = "tester";
const PASS: &str = "s3cret:with:colons";

#[test]
fn login_stores_credentials_that_pull_uses_and_logout_removes() {
    let reg = Registry::start_with_auth(USER, PASS);
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    let addr = reg.addr();

    fails_cleanly(
        &env,
        &["pull", "busybox"],
        &["authentication", &format!("oxpod login {addr}")],
    );
    assert_eq!(image_ids(&env), Vec::<String>::new());

    // A wrong password is rejected at login and nothing is stored.
    fails_cleanly(
        &env,
        &["login", "-u", USER, "-p", "wrong", &addr],
        &["authentication"],
    );
    assert!(
        !env.auth_file().exists(),
        "a failed login wrote the auth file"
    );

    assert_eq!(
        env.ok(&["login", "-u", USER, "-p", PASS, &addr]),
        "Login Succeeded!\n"
    );
    let mode = fs::metadata(env.auth_file()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "auth file mode {mode:o}");
    let auth = json(&fs::read_to_string(env.auth_file()).unwrap());
    let encoded = auth["auths"][&addr]["auth"]
        .as_str()
        .expect("auth entry for the registry");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("{USER}:{PASS}")
    );

    assert_eq!(env.ok(&["pull", "-q", "busybox"]).trim(), img.image_id());
    env.ok(&["rmi", "-a"]);

    assert_eq!(
        env.ok(&["logout", &addr]),
        format!("Removed login credentials for {addr}\n")
    );
    let auth = json(&fs::read_to_string(env.auth_file()).unwrap());
    assert!(auth["auths"].get(&addr).is_none(), "{auth}");
    fails_cleanly(&env, &["pull", "busybox"], &["authentication"]);
    fails_cleanly(&env, &["logout", &addr], &["not logged into"]);
}

#[test]
fn login_reads_the_password_from_stdin_and_honours_authfile() {
    let reg = Registry::start_with_auth(USER, PASS);
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    let addr = reg.addr();
    let custom = env.dir().join("elsewhere/auth.json");
    let authfile = custom.to_str().unwrap();

    let out = env.ok_with_stdin(
        &[
            "login",
            "--authfile",
            authfile,
            "-u",
            USER,
            "--password-stdin",
            &addr,
        ],
        format!("{PASS}\n").as_bytes(),
    );
    assert_eq!(out, "Login Succeeded!\n");
    assert!(custom.is_file());
    assert!(!env.auth_file().exists(), "--authfile ignored");
    fails_cleanly(&env, &["pull", "busybox"], &["authentication"]);
    assert_eq!(
        env.ok(&["pull", "-q", "--authfile", authfile, "busybox"])
            .trim(),
        img.image_id()
    );
    env.ok(&["logout", "--authfile", authfile, "--all"]);
    let auth = json(&fs::read_to_string(&custom).unwrap());
    assert_eq!(auth["auths"], serde_json::json!({}));
}

#[test]
fn creds_flag_overrides_the_auth_file() {
    let reg = Registry::start_with_auth(USER, PASS);
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    let good = format!("{USER}:{PASS}");

    fails_cleanly(
        &env,
        &["pull", "--creds", &format!("{USER}:wrong"), "busybox"],
        &["authentication"],
    );
    assert_eq!(
        env.ok(&["pull", "-q", "--creds", &good, "busybox"]).trim(),
        img.image_id()
    );
    // Still nothing stored: --creds is for this command only.
    assert!(!env.auth_file().exists());

    env.ok(&["login", "-u", USER, "-p", PASS, &reg.addr()]);
    env.ok(&["rmi", "-a"]);
    fails_cleanly(
        &env,
        &["pull", "--creds", &format!("{USER}:wrong"), "busybox"],
        &["authentication"],
    );
    fails_cleanly(
        &env,
        &["pull", "--creds", ":nouser", "busybox"],
        &["username"],
    );
}
