//! Keyring files on disk: permission checks, atomic writes (temp file with mode 0600, fsync,
//! rename, fsync of the directory) and the lock file that serialises writers.
//!
//! Ownership (issue 11): the files of a keyring belong to the directory's owner, the user a
//! server reading them runs as. A writer running as root (`sudo tollgate keys retire …`) hands
//! every file it writes to that owner (and to the group of the file it replaces, else the
//! directory's), so that the server can still read them; any other user whose keyring it is
//! not is refused (exit 3) before anything is written.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

pub(crate) const MANIFEST: &str = "keyring.json";
const LOCK: &str = ".lock";

fn io_error(what: String, e: std::io::Error) -> Error {
    Error::bad_key(format!("{what}: {e}")).with_source(e)
}

/// Gives `file`, just created in `dir` by this process, to the directory's owner when this
/// process runs as root and the directory is someone else's: owner the directory's, group
/// `replaced_gid` (the group of the file it replaces) or else the directory's. Refuses a writer
/// other than root into a directory that is not its own.
fn hand_over(dir: &Path, replaced_gid: Option<u32>, file: &File) -> Result<()> {
    let what = |e| io_error(format!("cannot read the owner of {}", dir.display()), e);
    // A file this process just created belongs to its effective user.
    let me = file.metadata().map_err(what)?.uid();
    let owner = fs::metadata(dir).map_err(what)?;
    if owner.uid() == me {
        return Ok(());
    }
    if me != 0 {
        return Err(Error::bad_key(format!(
            "keyring directory {} belongs to uid {}, not to this user (uid {me}): files written \
             here would not be readable by a server running as its owner; run the command as \
             that user",
            dir.display(),
            owner.uid()
        )));
    }
    std::os::unix::fs::fchown(
        file,
        Some(owner.uid()),
        Some(replaced_gid.unwrap_or(owner.gid())),
    )
    .map_err(|e| {
        io_error(
            format!(
                "cannot give a file in {} to its owner uid {}",
                dir.display(),
                owner.uid()
            ),
            e,
        )
    })
}

/// Refuses a directory that group or others may read, write or enter.
pub(crate) fn check_dir(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::bad_key(format!(
                "keyring directory {} does not exist; create it with `tollgate keys generate` or pass --keys DIR",
                dir.display()
            ))
        } else {
            io_error(format!("cannot read keyring directory {}", dir.display()), e)
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::bad_key(format!(
            "keyring path {} is not a directory",
            dir.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::bad_key(format!(
            "keyring directory {} has loose permissions {mode:04o}; run `chmod 700 {}`",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// The largest keyring, key or credentials file read: far above any real one, so that a file
/// pointed at something endless (`/dev/zero`) is refused instead of exhausting memory.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a regular file of at most [`MAX_FILE_BYTES`] without ever blocking on what is not one:
/// opened non-blocking (a FIFO put in its place does not hang the reader, and a server's
/// reload with it), then checked on the descriptor (a regular file, not a FIFO, device or
/// socket) and read with a size cap. `NotFound` is kept as such for callers that treat a
/// missing file as absent; everything else is `InvalidData` or the I/O error, naming no content.
pub(crate) fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file (a FIFO, device, socket or directory)",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// Reads a key file, refusing symlinks and modes other than owner-only.
pub(crate) fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    let meta = fs::symlink_metadata(path)
        .map_err(|e| io_error(format!("cannot read key file {}", path.display()), e))?;
    if !meta.file_type().is_file() {
        return Err(Error::bad_key(format!(
            "key file {} is not a regular file",
            path.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::bad_key(format!(
            "key file {} has loose permissions {mode:04o}; run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    read_regular(path).map_err(|e| io_error(format!("cannot read key file {}", path.display()), e))
}

/// Creates `dir` with mode 0700 if needed; tightens an existing directory that holds no keyring
/// yet (such as a fresh checkout's `keys/` with only a README) to 0700.
pub(crate) fn init_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                io_error(
                    format!("cannot create keyring directory {}", dir.display()),
                    e,
                )
            })?;
    } else if !dir.join(MANIFEST).exists() {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error(format!("cannot set mode 0700 on {}", dir.display()), e))?;
    }
    check_dir(dir)
}

/// Writes `name` in `dir` atomically with mode 0600: readers see the old file or the new one.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut suffix)
        .map_err(|_| Error::bad_key("the system random number generator failed"))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", u64::from_le_bytes(suffix)));
    let target = dir.join(name);
    let replaced_gid = fs::symlink_metadata(&target)
        .ok()
        .filter(fs::Metadata::is_file)
        .map(|m| m.gid());
    let mut owned = Ok(());
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        owned = hand_over(dir, replaced_gid, &file);
        if owned.is_err() {
            return Err(std::io::Error::other("not handed over"));
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        match std::mem::replace(&mut owned, Ok(())) {
            Err(refused) => refused,
            Ok(()) => io_error(format!("cannot write {}", target.display()), e),
        }
    })
}

/// Removes a key file (after the manifest no longer names it) and syncs the directory.
pub(crate) fn remove(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(format!("cannot delete {}", path.display()), e)),
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(format!("cannot sync {}", dir.display()), e))
}

/// An exclusive lock on the keyring, released on drop.
pub(crate) struct Lock(File);

impl Lock {
    /// A shared lock for readers, so that a reader never sees a manifest whose files a
    /// concurrent `prune` is deleting. Where the lock file cannot be opened (a read-only
    /// keyring), readers go without.
    pub(crate) fn shared(dir: &Path) -> Option<Lock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(LOCK))
            .ok()?;
        file.lock_shared().ok()?;
        Some(Lock(file))
    }

    /// The exclusive lock every writer holds.
    pub(crate) fn acquire(dir: &Path) -> Result<Lock> {
        let path = dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error(format!("cannot open lock file {}", path.display()), e))?;
        // Every writer comes here first: refused before anything is written, and the lock
        // file (when root created it) stays usable by the keyring's owner.
        hand_over(dir, None, &file)?;
        file.lock()
            .map_err(|e| io_error(format!("cannot lock {}", path.display()), e))?;
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}
