//! `push`: what oxpod pushes is byte-for-byte what it pulled, other tools read it, and blobs
//! the registry has are not sent twice.

use std::fs;

use serde_json::Value;

use crate::images::{self, TestImage, sha256_digest, skopeo, skopeo_registry_flags};
use crate::oxpod::Oxpod;
use crate::registry::{Registry, run_tool};
use crate::support::*;

/// `skopeo inspect [--config] docker://REFERENCE` as JSON (`--raw` bytes with `raw`).
fn skopeo_inspect(reg: &Registry, reference: &str, extra: &[&str]) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    run_tool(
        skopeo(tmp.path())
            .arg("inspect")
            .args(skopeo_registry_flags(reg, "--"))
            .args(extra)
            .arg(format!("docker://{reference}")),
    )
}

/// The pushed image as another client sees it: manifest digest, layers, config digest.
fn assert_registry_has(reg: &Registry, reference: &str, img: &TestImage) {
    let info: Value = serde_json::from_slice(&skopeo_inspect(reg, reference, &[])).unwrap();
    assert_eq!(info["Digest"], img.manifest_digest.as_str(), "{info}");
    assert_eq!(strings(&info["Layers"]), img.layer_digests, "{info}");
    let config = skopeo_inspect(reg, reference, &["--config", "--raw"]);
    assert_eq!(sha256_digest(&config), img.config_digest);
    let manifest = skopeo_inspect(reg, reference, &["--raw"]);
    assert_eq!(
        sha256_digest(&manifest),
        img.manifest_digest,
        "manifest bytes changed"
    );
}

#[test]
fn push_tagged_image_to_a_new_repository() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", "busybox"]);

    let target = format!("{}/pushed/busybox:v2", reg.addr());
    env.ok(&["tag", "busybox", &target]);
    let digest_file = env.dir().join("digest");
    let out = env.run(&[
        "push",
        "--digestfile",
        digest_file.to_str().unwrap(),
        &target,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for digest in [&img.layer_digests[0], &img.config_digest] {
        let line = format!("Copying blob {} done", &digest[7..19]);
        assert!(stderr.contains(&line), "no {line:?} in:\n{stderr}");
    }
    assert!(stderr.contains("Writing manifest"), "{stderr}");
    assert!(!stderr.contains("skipped"), "{stderr}");
    assert_eq!(
        fs::read_to_string(&digest_file).unwrap(),
        img.manifest_digest
    );
    assert_registry_has(&reg, &target, &img);

    // Again: the registry has every blob now.
    let out = env.run(&["push", &target]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for digest in [&img.layer_digests[0], &img.config_digest] {
        let line = format!("Copying blob {} skipped: already exists", &digest[7..19]);
        assert!(stderr.contains(&line), "no {line:?} in:\n{stderr}");
    }
    assert!(!stderr.contains(" done"), "{stderr}");

    // `-q` prints nothing at all.
    let out = env.run(&["push", "-q", &target]);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );

    // Pushing records the digest in the new repository.
    let digests = strings(&inspect(&env, "busybox")["RepoDigests"]);
    let want = format!("{}/pushed/busybox@{}", reg.addr(), img.manifest_digest);
    assert!(digests.contains(&want), "{want} not in {digests:?}");
}

#[test]
fn push_to_an_explicit_destination_on_another_registry_is_readable_by_skopeo() {
    let source = Registry::start();
    let dest = Registry::start();
    let img = images::multilayer(&source);
    let env = Oxpod::with_registries(&[&source, &dest]);
    env.ok(&["pull", "-q", "multilayer"]);

    let target = format!("{}/copy/multilayer:1", dest.addr());
    env.ok(&["push", "multilayer", &format!("docker://{target}")]);
    assert_registry_has(&dest, &target, &img);
    // The push did not add a tag locally.
    assert_eq!(
        strings(&inspect(&env, "multilayer")["RepoTags"]),
        [img.reference()]
    );

    // skopeo copies what oxpod pushed (zstd and uncompressed layers included) and verifies it.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("image");
    run_tool(
        skopeo(out.path())
            .args(["copy", "--quiet"])
            .args(skopeo_registry_flags(&dest, "--src-"))
            .arg(format!("docker://{target}"))
            .arg(format!("dir:{}", dir.display())),
    );
    let manifest = fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(sha256_digest(&manifest), img.manifest_digest);
    for digest in img.layer_digests.iter().chain([&img.config_digest]) {
        let blob = fs::read(dir.join(&digest[7..])).unwrap();
        assert_eq!(&sha256_digest(&blob), digest);
    }

    // And oxpod pulls it back from there into a fresh store: same image.
    let other = Oxpod::with_registry(&dest);
    assert_eq!(other.ok(&["pull", "-q", &target]).trim(), img.image_id());
    assert_images_complete(&other);
}

#[test]
fn push_failures_are_clear() {
    let reg = Registry::start();
    images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    fails_cleanly(&env, &["push", "nosuch"], &["nosuch", "image not known"]);
    env.ok(&["pull", "-q", "busybox"]);

    // An ID has no name to push to.
    let id = image_ids(&env).remove(0);
    fails_cleanly(&env, &["push", &id], &["destination"]);

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let target = format!("127.0.0.1:{closed}/busybox:latest");
    fails_cleanly(
        &env,
        &["push", "busybox", &target],
        &["cannot reach", &target],
    );
}

#[test]
fn push_to_a_registry_with_auth_needs_credentials() {
    let reg = Registry::start_with_auth("pusher", "pa55");
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", "--creds", "pusher:pa55", "busybox"]);
    let target = format!("{}/private/busybox:1", reg.addr());
    fails_cleanly(
        &env,
        &["push", "busybox", &target],
        &["authentication", "oxpod login"],
    );
    env.ok(&["push", "-q", "--creds", "pusher:pa55", "busybox", &target]);
    assert_registry_has(&reg, &target, &img);
}
