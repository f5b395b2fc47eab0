//! The content-addressed blob store, `blobs/sha256/<hex>`: manifests, configs and compressed
//! layers exactly as a registry serves them. Nothing enters it without its digest checked.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::sys::fs::{is_stale_temp, sync_parent, temp_sibling};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("unsupported or malformed digest {0:?} (expected sha256:<64 hex>)")]
    BadDigest(String),
    #[error("blob {expected} failed verification: its content hashes to {actual}")]
    Mismatch { expected: String, actual: String },
    #[error("blob store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `sha256:<hex>` → `<hex>`, refusing anything that could name a path outside the store.
pub fn digest_hex(digest: &str) -> Result<&str, BlobError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            Ok(hex)
        }
        _ => Err(BlobError::BadDigest(digest.to_string())),
    }
}

/// The `sha256:<hex>` digest of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }
    /// The digest and byte count so far, and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.written,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A blob being written: bytes go to a temporary file and are hashed on the way; `commit`
/// checks the digest and renames it into place.
pub struct BlobWriter {
    tmp: PathBuf,
    dir: PathBuf,
    writer: Option<HashingWriter<io::BufWriter<File>>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not yet committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not yet committed").flush()
    }
}

impl BlobWriter {
    /// Verify against `expected` (when given) and move into the store. Returns the digest and
    /// size. On mismatch the temporary file is removed and nothing enters the store.
    pub fn commit(mut self, expected: Option<&str>) -> Result<(String, u64), BlobError> {
        let tmp = self.tmp.clone();
        let dir = self.dir.clone();
        let (digest, size, buffered) = self.writer.take().expect("committed once").finish();
        let result = (|| {
            let file = buffered
                .into_inner()
                .map_err(|e| io_err(&tmp)(e.into_error()))?;
            if let Some(expected) = expected
                && expected != digest
            {
                return Err(BlobError::Mismatch {
                    expected: expected.to_string(),
                    actual: digest.clone(),
                });
            }
            file.sync_all().map_err(io_err(&tmp))?;
            let path = dir.join(digest_hex(&digest)?);
            fs::rename(&tmp, &path).map_err(io_err(&path))?;
            sync_parent(&path).map_err(io_err(&path))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|()| (digest, size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Only reached with the file still present when commit was never called.
        let _ = fs::remove_file(&self.tmp);
    }
}

/// `<root>/blobs/sha256/`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn open(root: &Path) -> Result<BlobStore, BlobError> {
        let dir = root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(BlobStore { dir })
    }

    pub fn path(&self, digest: &str) -> Result<PathBuf, BlobError> {
        Ok(self.dir.join(digest_hex(digest)?))
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    /// Start writing a blob.
    pub fn writer(&self) -> Result<BlobWriter, BlobError> {
        let tmp = temp_sibling(&self.dir.join("blob"));
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        Ok(BlobWriter {
            tmp,
            dir: self.dir.clone(),
            writer: Some(HashingWriter::new(io::BufWriter::with_capacity(
                1 << 20,
                file,
            ))),
        })
    }

    /// Store bytes already in memory; returns their digest.
    pub fn put(&self, data: &[u8], expected: Option<&str>) -> Result<String, BlobError> {
        let digest = sha256_digest(data);
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(BlobError::Mismatch {
                expected: expected.to_string(),
                actual: digest,
            });
        }
        if !self.contains(&digest) {
            let mut writer = self.writer()?;
            writer.write_all(data).map_err(io_err(&self.dir))?;
            writer.commit(Some(&digest))?;
        }
        Ok(digest)
    }

    /// Read a whole blob, verifying it (blobs are small when read this way: manifests, configs).
    pub fn read(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path(digest)?;
        let data = fs::read(&path).map_err(io_err(&path))?;
        let actual = sha256_digest(&data);
        if actual != digest {
            return Err(BlobError::Mismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(data)
    }

    /// Open a blob for streaming.
    pub fn open_blob(&self, digest: &str) -> Result<File, BlobError> {
        let path = self.path(digest)?;
        File::open(&path).map_err(io_err(&path))
    }

    /// Copy a blob's bytes to a writer.
    pub fn copy_to(&self, digest: &str, out: &mut impl Write) -> Result<u64, BlobError> {
        let mut file = self.open_blob(digest)?;
        io::copy(&mut file, out).map_err(io_err(&self.dir))
    }

    /// Remove a blob; absent is fine.
    pub fn remove(&self, digest: &str) -> Result<(), BlobError> {
        let path = self.path(digest)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Every digest in the store (for garbage collection).
    pub fn digests(&self) -> Result<Vec<String>, BlobError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_stale_temp(&name) {
                let _ = fs::remove_file(entry.path());
            } else if !name.starts_with('.') {
                out.push(format!("sha256:{name}"));
            }
        }
        Ok(out)
    }
}

/// Read a blob while checking its digest at the end (for large blobs streamed once).
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: &str) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: expected.to_string(),
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {} hashes to {actual}: it is corrupt or was tampered with",
                        self.expected
                    ),
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_verified_on_the_way_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let digest = store.put(b"hello", None).unwrap();
        assert_eq!(store.read(&digest).unwrap(), b"hello");
        let wrong = sha256_digest(b"other");
        assert!(matches!(
            store.put(b"hello!", Some(&wrong)),
            Err(BlobError::Mismatch { .. })
        ));
        let mut w = store.writer().unwrap();
        w.write_all(b"tampered").unwrap();
        assert!(matches!(
            w.commit(Some(&wrong)),
            Err(BlobError::Mismatch { .. })
        ));
        assert_eq!(store.digests().unwrap(), vec![digest]);
    }

    #[test]
    fn digests_cannot_name_paths() {
        for bad in ["sha256:../../etc/passwd", "md5:abc", "sha256:ABC"] {
            assert!(digest_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verifying_reader_rejects_corrupt_content() {
        let digest = sha256_digest(b"abc");
        let mut ok = VerifyingReader::new(&b"abc"[..], &digest);
        io::copy(&mut ok, &mut io::sink()).unwrap();
        let mut bad = VerifyingReader::new(&b"abd"[..], &digest);
        assert!(io::copy(&mut bad, &mut io::sink()).is_err());
    }
}
