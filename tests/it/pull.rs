//! `pull`: short names, full names, digests, multi-layer and multi-arch images, Docker
//! schema 2, and registries behind TLS.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::images::{self, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST, host_arch};
use crate::oxpod::Oxpod;
use crate::registry::{Registry, run_tool};
use crate::support::*;

#[test]
fn pull_short_name_resolves_through_the_search_registry() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);

    let out = env.run(&["pull", "busybox"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", img.image_id())
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Trying to pull {}...", img.reference())),
        "{stderr}"
    );
    assert!(stderr.contains("Writing manifest"), "{stderr}");

    let listed = images_json(&env);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["Id"], img.image_id());
    assert_eq!(strings(&listed[0]["RepoTags"]), [img.reference()]);
    assert_eq!(
        strings(&listed[0]["RepoDigests"]),
        [format!("{}/busybox@{}", reg.addr(), img.manifest_digest)]
    );
    assert_eq!(listed[0]["Digest"], img.manifest_digest.as_str());
    assert_eq!(listed[0]["Dangling"], false);
    // The short name finds it locally too.
    assert_eq!(
        env.run(&["image", "exists", "busybox"]).status.code(),
        Some(0)
    );
}

#[test]
fn pull_full_name_and_digest_give_the_same_image() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let other = images::busybox_as(&reg, "other/busybox", "v1");
    let env = Oxpod::with_registry(&reg);

    // -q: only the ID on stdout, no progress on stderr.
    let out = env.run(&["pull", "-q", &img.reference()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), img.image_id());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // The same config under another repository and tag is the same image with two names.
    assert_eq!(
        env.ok(&["pull", "-q", &other.reference()]).trim(),
        img.image_id()
    );
    assert_eq!(
        env.ok(&["pull", "-q", &img.digest_reference()]).trim(),
        img.image_id()
    );
    let listed = images_json(&env);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let mut tags = strings(&listed[0]["RepoTags"]);
    tags.sort();
    let mut want = vec![img.reference(), other.reference()];
    want.sort();
    assert_eq!(tags, want);
    let digests = strings(&listed[0]["RepoDigests"]);
    for repo in ["busybox", "other/busybox"] {
        let want = format!("{}/{repo}@{}", reg.addr(), img.manifest_digest);
        assert!(digests.contains(&want), "{want} not in {digests:?}");
    }
    // The second pull found the layer already there.
    assert_eq!(layer_diff_ids(&env), img.layer_diff_ids);
}

#[test]
fn pull_by_digest_alone_is_found_by_that_digest() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);

    assert_eq!(
        env.ok(&["pull", "-q", &img.digest_reference()]).trim(),
        img.image_id()
    );
    let info = inspect(&env, &img.digest_reference());
    assert_eq!(info["Id"], img.image_id());
    assert_eq!(info["Digest"], img.manifest_digest.as_str());
    assert_eq!(
        strings(&info["RepoDigests"]),
        [format!("{}/busybox@{}", reg.addr(), img.manifest_digest)]
    );
    // No tag was asked for, so none was given; the digest names it, so it is not dangling.
    assert_eq!(strings(&info["RepoTags"]), Vec::<String>::new());
    let listed = env.ok(&[
        "images",
        "--format",
        "{{.Repository}} {{.Tag}} {{.Dangling}}",
    ]);
    assert_eq!(
        listed.trim(),
        format!("{}/busybox <none> false", reg.addr())
    );
    env.ok(&["image", "prune", "-f"]);
    assert_eq!(env.ok(&["images", "-q"]).trim(), &img.image_id()[..12]);
    let short_digest = format!("busybox@{}", img.manifest_digest);
    assert_eq!(
        env.run(&["image", "exists", &short_digest]).status.code(),
        Some(0)
    );
    assert_eq!(
        env.run(&["image", "exists", &img.reference()])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn pull_multilayer_image_mounts_as_kernel_overlay() {
    let reg = Registry::start();
    let img = images::multilayer(&reg);
    let env = Oxpod::with_registry(&reg);
    assert_eq!(env.ok(&["pull", "-q", "multilayer"]).trim(), img.image_id());

    let info = inspect(&env, "multilayer");
    let layers = strings(&info["RootFS"]["Layers"]);
    assert_eq!(
        layers, img.layer_diff_ids,
        "RootFS.Layers are the config's diff-ids"
    );
    for diff_id in &layers {
        assert!(
            layer_dir(&env, diff_id).is_dir(),
            "layer {diff_id} not unpacked"
        );
    }
    // What inspect advertises is exactly the overlay lower directory list.
    let lower = lowerdir(&env, &layers);
    assert_eq!(info["GraphDriver"]["Data"]["LowerDir"], lower.as_str());

    let merged = env.dir().join("merged");
    fs::create_dir(&merged).unwrap();
    let mount = OverlayMount::new(&lower, &merged);
    let result = images::check_multilayer_rootfs(&mount.0);
    drop(mount);
    result.unwrap();
}

/// A read-only overlay of lower directories, unmounted on drop (also when the test fails).
struct OverlayMount(PathBuf);

impl OverlayMount {
    fn new(lowerdir: &str, merged: &Path) -> OverlayMount {
        run_tool(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o"])
                .arg(format!("lowerdir={lowerdir}"))
                .arg(merged),
        );
        OverlayMount(merged.to_owned())
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn pull_multiarch_picks_the_host_platform_or_the_one_asked_for() {
    let reg = Registry::start();
    let img = images::multiarch(&reg);
    let env = Oxpod::with_registry(&reg);

    assert_eq!(env.ok(&["pull", "-q", "multiarch"]).trim(), img.image_id());
    let info = inspect(&env, "multiarch");
    assert_eq!(info["Architecture"], host_arch());
    assert_eq!(info["Os"], "linux");
    assert_eq!(strings(&info["RootFS"]["Layers"]), img.layer_diff_ids);
    // Both the index and the platform's manifest digest name the image.
    let digests = strings(&info["RepoDigests"]);
    let host = img
        .platforms
        .iter()
        .find(|p| p.architecture == host_arch())
        .unwrap();
    for digest in [&img.manifest_digest, &host.manifest_digest] {
        let want = format!("{}/multiarch@{digest}", reg.addr());
        assert!(digests.contains(&want), "{want} not in {digests:?}");
    }

    let arm = img
        .platforms
        .iter()
        .find(|p| p.architecture == "arm64")
        .unwrap();
    let id = env.ok(&["pull", "-q", "--platform", "linux/arm64", &img.reference()]);
    assert_eq!(id.trim(), arm.config_digest.trim_start_matches("sha256:"));
    let info = inspect(&env, &img.reference());
    assert_eq!(info["Architecture"], "arm64");
    assert_eq!(strings(&info["RootFS"]["Layers"]), arm.layer_diff_ids);
    let marker = layer_dir(&env, arm.layer_diff_ids.last().unwrap()).join("etc/platform");
    assert_eq!(fs::read_to_string(&marker).unwrap(), "linux/arm64\n");
}

#[test]
fn pull_multiarch_unknown_platform_lists_the_offered_ones() {
    let reg = Registry::start();
    let img = images::multiarch(&reg);
    let env = Oxpod::with_registry(&reg);
    fails_cleanly(
        &env,
        &["pull", "--platform", "linux/s390x", &img.reference()],
        &["linux/s390x", "linux/amd64", "linux/arm64"],
    );
    assert_eq!(image_ids(&env), Vec::<String>::new());
    // A malformed platform is refused before any transfer.
    fails_cleanly(
        &env,
        &["pull", "--platform", "linux", &img.reference()],
        &["platform"],
    );
}

#[test]
fn pull_docker_schema2_image() {
    let reg = Registry::start();
    let img = images::docker_schema2(&reg, "docker/busybox", "v2s2");
    let env = Oxpod::with_registry(&reg);
    assert_eq!(
        env.ok(&["pull", "-q", &img.reference()]).trim(),
        img.image_id()
    );
    let info = inspect(&env, &img.reference());
    assert_eq!(info["ManifestType"], MEDIA_DOCKER_MANIFEST);
    assert_eq!(info["Digest"], img.manifest_digest.as_str());
    assert_eq!(strings(&info["RootFS"]["Layers"]), img.layer_diff_ids);
    assert_eq!(strings(&info["Config"]["Cmd"]), ["sh"]);
    assert!(
        layer_dir(&env, &img.layer_diff_ids[0])
            .join("bin/busybox")
            .is_file()
    );

    // The OCI busybox has the same config: one image, known by both manifests.
    let oci = images::busybox(&reg);
    assert_eq!(oci.config_digest, img.config_digest);
    assert_eq!(
        env.ok(&["pull", "-q", &oci.reference()]).trim(),
        img.image_id()
    );
    let info = inspect(&env, &oci.reference());
    assert_eq!(info["ManifestType"], MEDIA_OCI_MANIFEST);
    assert_eq!(images_json(&env).len(), 1);
}

#[test]
fn pull_over_tls_trusts_the_cert_dir_or_skips_verification() {
    let reg = Registry::start_tls();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);

    // The CA is in no directory oxpod reads by default.
    fails_cleanly(&env, &["pull", &img.reference()], &["certificate"]);
    assert_eq!(image_ids(&env), Vec::<String>::new());

    // A flat directory holding the CA, as `--cert-dir` takes it.
    let host_dir = reg.host_cert_dir();
    let id = env.ok(&[
        "pull",
        "-q",
        "--cert-dir",
        host_dir.to_str().unwrap(),
        "busybox",
    ]);
    assert_eq!(id.trim(), img.image_id());
    env.ok(&["rmi", "-a"]);

    // A certs.d tree (`HOST:PORT/ca.crt`) works too.
    let certs_d = env.certs_d();
    let id = env.ok(&[
        "pull",
        "-q",
        "--cert-dir",
        certs_d.to_str().unwrap(),
        "busybox",
    ]);
    assert_eq!(id.trim(), img.image_id());
    env.ok(&["rmi", "-a"]);

    let id = env.ok(&["pull", "-q", "--tls-verify=false", "busybox"]);
    assert_eq!(id.trim(), img.image_id());
    assert_images_complete(&env);
}
