//! Pulls that must fail, and fail safely: bad input, corrupt content in the registry, layers
//! that try to write outside their directory, and pulls killed half-way. Each failure is one
//! clear `Error:` line, registers no image and leaves nothing half-made in the store.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::images::{
    self, Compression, ImageBuilder, Layer, LayerBuilder, MEDIA_OCI_LAYER_GZIP, TestImage,
    sha256_digest,
};
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::*;

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn bad_input_fails_with_one_clear_line() {
    let reg = Registry::start_with_auth("user", "right");
    images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    let addr = reg.addr();
    let creds = ["--creds", "user:right"];

    let unknown = format!("{addr}/nosuch:1");
    fails_cleanly(
        &env,
        &["pull", creds[0], creds[1], &unknown],
        &["manifest unknown", &unknown],
    );
    fails_cleanly(
        &env,
        &[
            "pull",
            creds[0],
            creds[1],
            &format!("{addr}/busybox:nosuchtag"),
        ],
        &["manifest unknown"],
    );
    let port = closed_port();
    fails_cleanly(
        &env,
        &["pull", &format!("127.0.0.1:{port}/busybox:latest")],
        &["cannot reach", &format!("127.0.0.1:{port}"), "refused"],
    );
    fails_cleanly(
        &env,
        &["pull", "UPPER/case"],
        &["invalid reference format", "lowercase"],
    );
    fails_cleanly(
        &env,
        &["pull", "a@sha256:zz"],
        &["invalid reference format", "digest"],
    );
    fails_cleanly(
        &env,
        &["pull", "busybox:bad tag"],
        &["invalid reference format"],
    );
    fails_cleanly(
        &env,
        &["pull", "--creds", "user:wrong", "busybox"],
        &["authentication"],
    );
    fails_cleanly(&env, &["pull", ""], &["empty"]);
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_store_consistent(&env);
}

/// Overwrites a blob in the registry's storage with same-sized garbage; returns the original.
fn corrupt_blob(reg: &Registry, digest: &str) -> Vec<u8> {
    let path = reg.blob_path(digest);
    let original = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut bad = original.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    fs::write(&path, &bad).unwrap();
    original
}

#[test]
fn corrupt_layer_blob_fails_and_leaves_nothing_behind() {
    let reg = Registry::start();
    let img = images::multilayer(&reg);
    let env = Oxpod::with_registry(&reg);
    // The zstd layer: the others download and unpack meanwhile.
    let victim = &img.layer_digests[3];
    let original = corrupt_blob(&reg, victim);

    fails_cleanly(&env, &["pull", "multilayer"], &["digest mismatch", victim]);
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_store_consistent(&env);
    assert!(
        !blob_digests(&env).contains(victim),
        "the corrupt blob entered the store"
    );
    assert!(!layer_dir(&env, &img.layer_diff_ids[3]).exists());

    fs::write(reg.blob_path(victim), original).unwrap();
    assert_eq!(env.ok(&["pull", "-q", "multilayer"]).trim(), img.image_id());
    assert_images_complete(&env);
    let hello = layer_dir(&env, &img.layer_diff_ids[3]).join("opt/hello.txt");
    assert_eq!(
        fs::read(hello).unwrap(),
        b"hello again from the zstd layer\n"
    );
}

#[test]
fn corrupt_config_or_manifest_fails_and_leaves_nothing_behind() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);

    let original = corrupt_blob(&reg, &img.config_digest);
    fails_cleanly(
        &env,
        &["pull", "busybox"],
        &["digest mismatch", &img.config_digest],
    );
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_store_consistent(&env);
    fs::write(reg.blob_path(&img.config_digest), original).unwrap();

    // The registry still announces the right digest; the bytes it sends no longer match it.
    let original = corrupt_blob(&reg, &img.manifest_digest);
    fails_cleanly(
        &env,
        &["pull", "busybox"],
        &["digest mismatch", &img.manifest_digest],
    );
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_store_consistent(&env);
    fs::write(reg.blob_path(&img.manifest_digest), original).unwrap();

    assert_eq!(env.ok(&["pull", "-q", "busybox"]).trim(), img.image_id());
    assert_images_complete(&env);
}

#[test]
fn layer_whose_content_does_not_match_its_diff_id_is_refused() {
    let reg = Registry::start();
    let real = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/motd", 0o644, b"hello\n")
        .build(Compression::Gzip);
    // The config claims another uncompressed content than the blob has.
    let liar = Layer {
        diff_id: sha256_digest(b"not this layer"),
        ..real
    };
    let image = ImageBuilder::new()
        .layer(images::busybox_layer(), "oxpod-it: busybox")
        .layer(liar.clone(), "oxpod-it: lying diff-id")
        .build();
    let img = images::push_image(&reg, &image, "liar", "latest");
    let env = Oxpod::with_registry(&reg);

    fails_cleanly(
        &env,
        &["pull", &img.reference()],
        &[&liar.diff_id, "corrupt"],
    );
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_store_consistent(&env);
    assert!(!layer_dir(&env, &liar.diff_id).exists());
    let actual = sha256_digest(&flate2_decode(&liar.blob));
    assert!(
        !layer_dir(&env, &actual).exists(),
        "the mislabelled layer was kept"
    );
}

fn flate2_decode(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// Malicious layers

/// One tar member written byte by byte, so names the `tar` crate refuses (`..`) get through.
struct RawEntry<'a> {
    name: &'a str,
    kind: tar::EntryType,
    link: &'a str,
    data: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> RawEntry<'a> {
    RawEntry {
        name,
        kind: tar::EntryType::Regular,
        link: "",
        data,
    }
}

fn dir(name: &str) -> RawEntry<'_> {
    RawEntry {
        name,
        kind: tar::EntryType::Directory,
        link: "",
        data: b"",
    }
}

fn symlink<'a>(name: &'a str, target: &'a str) -> RawEntry<'a> {
    RawEntry {
        name,
        kind: tar::EntryType::Symlink,
        link: target,
        data: b"",
    }
}

fn hardlink<'a>(name: &'a str, target: &'a str) -> RawEntry<'a> {
    RawEntry {
        name,
        kind: tar::EntryType::Link,
        link: target,
        data: b"",
    }
}

fn raw_tar(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            assert!(e.name.len() < old.name.len() && e.link.len() < old.linkname.len());
            old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
            old.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        }
        h.set_entry_type(e.kind);
        h.set_mode(if e.kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(images::MTIME);
        h.set_size(e.data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(e.data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip_layer(tar: Vec<u8>) -> Layer {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&tar).unwrap();
    let blob = enc.finish().unwrap();
    Layer {
        media_type: MEDIA_OCI_LAYER_GZIP,
        digest: sha256_digest(&blob),
        diff_id: sha256_digest(&tar),
        blob: Arc::from(blob),
    }
}

/// busybox plus the malicious layer on top, pushed as `evil/NAME:latest`.
fn push_evil(reg: &Registry, name: &str, entries: &[RawEntry]) -> (TestImage, Layer) {
    let evil = gzip_layer(raw_tar(entries));
    let image = ImageBuilder::new()
        .layer(images::busybox_layer(), "oxpod-it: busybox")
        .layer(evil.clone(), "oxpod-it: malicious")
        .build();
    (
        images::push_image(reg, &image, &format!("evil/{name}"), "latest"),
        evil,
    )
}

/// `../` repeated enough to climb from `<root>/layers/<tmp>/` (under /tmp) to `/`, short
/// enough for the 100-byte name field of a tar header.
fn to_root() -> String {
    "../".repeat(12)
}

/// Pulls an image with a malicious layer: must fail naming `entry` and `why`, register nothing
/// and leave no trace of the layer.
fn assert_refused(env: &Oxpod, img: &TestImage, evil: &Layer, entry: &str, why: &str) {
    fails_cleanly(
        env,
        &["pull", &img.reference()],
        &[&format!("{entry:?}"), why],
    );
    assert_eq!(
        image_ids(env),
        Vec::<String>::new(),
        "an image was registered"
    );
    assert_store_consistent(env);
    assert!(
        !layer_dir(env, &evil.diff_id).exists(),
        "the malicious layer was kept"
    );
}

#[test]
fn malicious_layer_with_dotdot_paths_is_refused() {
    let reg = Registry::start();
    let env = Oxpod::with_registry(&reg);
    let outside = unique_tmp_path("escape");
    let outside_s = outside.to_str().unwrap().trim_start_matches('/');

    // Next to the layer directory, in `<root>/layers/`.
    let (img, evil) = push_evil(
        &reg,
        "sibling",
        &[dir("etc"), file("../escaped.txt", b"pwned\n")],
    );
    assert_refused(
        &env,
        &img,
        &evil,
        "../escaped.txt",
        "escapes the layer directory",
    );
    assert!(!layers_dir(&env).join("escaped.txt").exists());

    // All the way up to /tmp, through a directory that exists in the layer.
    let deep = format!("etc/{}{outside_s}", to_root());
    let (img, evil) = push_evil(&reg, "deep", &[dir("etc"), file(&deep, b"pwned\n")]);
    assert_refused(&env, &img, &evil, &deep, "escapes the layer directory");
    assert!(!outside.exists(), "{} was written", outside.display());
}

#[test]
fn malicious_layer_writing_through_its_own_symlink_is_refused() {
    let reg = Registry::start();
    let env = Oxpod::with_registry(&reg);
    let target = tempfile::Builder::new()
        .prefix("oxpod-it-victim.")
        .tempdir()
        .unwrap();
    let target_s = target.path().to_str().unwrap();

    // An absolute symlink to a host directory, then a file "inside" it.
    let (img, evil) = push_evil(
        &reg,
        "abs-symlink",
        &[symlink("link", target_s), file("link/file", b"pwned\n")],
    );
    assert_refused(&env, &img, &evil, "link/file", "symlink");
    assert_eq!(dir_names(target.path()), Vec::<String>::new());

    // A relative one that climbs out.
    let up = format!("{}{}", to_root(), target_s.trim_start_matches('/'));
    let (img, evil) = push_evil(
        &reg,
        "rel-symlink",
        &[
            dir("a"),
            symlink("a/up", &up),
            file("a/up/file", b"pwned\n"),
        ],
    );
    assert_refused(&env, &img, &evil, "a/up/file", "symlink");
    assert_eq!(dir_names(target.path()), Vec::<String>::new());
}

#[test]
fn malicious_layer_hard_linking_a_host_file_is_refused() {
    let reg = Registry::start();
    let env = Oxpod::with_registry(&reg);
    let host = tempfile::Builder::new()
        .prefix("oxpod-it-victim.")
        .tempdir()
        .unwrap();
    let victim = host.path().join("victim");
    fs::write(&victim, b"original\n").unwrap();
    let link = format!(
        "{}{}",
        to_root(),
        victim.to_str().unwrap().trim_start_matches('/')
    );

    // Link to the host file, then overwrite "it" through the link.
    let (img, evil) = push_evil(
        &reg,
        "hardlink",
        &[hardlink("hl", &link), file("hl", b"pwned\n")],
    );
    assert_refused(&env, &img, &evil, "hl", "outside the layer directory");
    assert_eq!(fs::read(&victim).unwrap(), b"original\n");
    assert_eq!(
        fs::metadata(&victim).unwrap().nlink(),
        1,
        "the host file got a link"
    );
}

// ---------------------------------------------------------------------------------------------
// Interrupted pulls

/// Deterministic incompressible bytes (xorshift64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

const BIG_FILES: usize = 4;
const BIG_FILE_SIZE: usize = 6 << 20;

/// busybox plus two big uncompressed layers of random data.
fn push_big(reg: &Registry) -> TestImage {
    let big = |seed: u64| {
        let mut b = LayerBuilder::new().dir("data", 0o755);
        for i in 0..BIG_FILES / 2 {
            let data = noise(seed * 100 + i as u64, BIG_FILE_SIZE);
            b = b.file(&format!("data/{seed}-{i}.bin"), 0o644, &data);
        }
        b.build(Compression::None)
    };
    let image = ImageBuilder::new()
        .layer(images::busybox_layer(), "oxpod-it: busybox")
        .layer(big(1), "oxpod-it: big 1")
        .layer(big(2), "oxpod-it: big 2")
        .cmd(&["sh"])
        .build();
    images::push_image(reg, &image, "big", "latest")
}

/// Whether the pull `pid` is writing into `dir` right now: a download (`blobs/sha256`) or an
/// unpack (`layers`) in progress has a temporary name there with its pid.
fn in_flight(dir: &Path, pid: u32) -> bool {
    let prefix = format!(".tmp-{pid}-");
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
    })
}

/// Starts `pull`, waits until it writes into `watch` (a download or an unpack in progress),
/// then SIGKILLs it. Returns the killed pid, or `None` when the pull finished first.
fn kill_pull_midway(env: &Oxpod, reference: &str, watch: &Path, delay: Duration) -> Option<u32> {
    let mut child = env
        .cmd(&["pull", "-q", reference])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn oxpod pull");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "pull failed on its own: {status}");
            return None;
        }
        if in_flight(watch, pid) {
            std::thread::sleep(delay);
            break;
        }
        assert!(Instant::now() < deadline, "pull never started writing");
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let status = child.wait().unwrap();
    match status.signal() {
        Some(9) => Some(pid),
        _ => {
            assert!(status.success(), "pull failed on its own: {status}");
            None
        }
    }
}

/// After killed pulls: no image; every blob and layer under a real name is complete; what
/// is left half-written belongs to the dead processes, under a temporary name.
fn assert_nothing_half_made(env: &Oxpod, dead: &[u32], img: &TestImage) {
    assert_eq!(
        image_ids(env),
        Vec::<String>::new(),
        "a killed pull registered an image"
    );
    let is_leftover = |name: &str| {
        dead.iter()
            .any(|pid| name.starts_with(&format!(".tmp-{pid}-")))
    };
    for name in dir_names(&blobs_dir(env)) {
        if is_leftover(&name) {
            continue;
        }
        let data = fs::read(blobs_dir(env).join(&name)).unwrap();
        assert_eq!(
            sha256_digest(&data),
            format!("sha256:{name}"),
            "blob {name} is torn"
        );
    }
    for name in dir_names(&layers_dir(env)) {
        if is_leftover(&name) || name == "layers.lock" {
            continue;
        }
        let diff_id = format!("sha256:{name}");
        assert!(
            img.layer_diff_ids.contains(&diff_id),
            "unknown layer {name}"
        );
        assert_big_layer_content(env, &diff_id);
    }
}

/// The files of one of [`push_big`]'s layers are all there with the right bytes.
fn assert_big_layer_content(env: &Oxpod, diff_id: &str) {
    let dir = layer_dir(env, diff_id);
    let data = dir.join("data");
    if !data.exists() {
        assert!(
            dir.join("bin/busybox").is_file(),
            "{} is incomplete",
            dir.display()
        );
        return;
    }
    let names = dir_names(&data);
    assert_eq!(names.len(), BIG_FILES / 2, "{}: {names:?}", data.display());
    for name in names {
        let (seed, i) = name.trim_end_matches(".bin").split_once('-').unwrap();
        let (seed, i): (u64, u64) = (seed.parse().unwrap(), i.parse().unwrap());
        let got = fs::read(data.join(&name)).unwrap();
        assert!(
            got == noise(seed * 100 + i, BIG_FILE_SIZE),
            "{name} content differs"
        );
    }
}

#[test]
fn pull_killed_midway_leaves_nothing_half_made_and_can_be_redone() {
    let reg = Registry::start();
    let img = push_big(&reg);
    let env = Oxpod::with_registry(&reg);
    let mut killed = Vec::new();

    // Once while blobs download, once while layers unpack; retry with shorter delays when the
    // pull is too quick to catch.
    for watch in [blobs_dir(&env), layers_dir(&env)] {
        let mut caught = None;
        for delay_ms in [20, 5, 1, 0, 0, 0] {
            if let Some(pid) = kill_pull_midway(
                &env,
                &img.reference(),
                &watch,
                Duration::from_millis(delay_ms),
            ) {
                caught = Some(pid);
                break;
            }
            env.ok(&["rmi", "-a"]);
        }
        let pid = caught
            .unwrap_or_else(|| panic!("could not catch a pull writing in {}", watch.display()));
        killed.push(pid);
        assert_nothing_half_made(&env, &killed, &img);
    }

    assert_eq!(
        env.ok(&["pull", "-q", &img.reference()]).trim(),
        img.image_id()
    );
    for diff_id in &img.layer_diff_ids {
        assert_big_layer_content(&env, diff_id);
    }
    let info = inspect(&env, &img.reference());
    assert_eq!(strings(&info["RootFS"]["Layers"]), img.layer_diff_ids);

    // Garbage collection sweeps what the killed pulls left.
    env.ok(&["rmi", "-a"]);
    assert_eq!(blob_digests(&env), Vec::<String>::new());
    assert_eq!(layer_diff_ids(&env), Vec::<String>::new());
}
