//! Class → exit code: 0 success, 1 rejected, 2 usage, 3 environment.

use std::process::ExitCode;

use tollgate::Class;

/// The exit code for a failure of this class.
pub(crate) fn code(class: Class) -> ExitCode {
    ExitCode::from(class.exit_code())
}

/// The EXIT STATUS paragraph closing `tollgate --help` (the README repeats it).
pub(crate) const EXIT_STATUS: &str = "\
EXIT STATUS:
  0  success; the token is valid
  1  the token was rejected (reason on stderr; with --json, an error object on stdout)
  2  usage error (bad flag, bad value, malformed URL or duration)
  3  environment failure: keyring unreadable or corrupt, loose key file permissions,
     store unreachable";
